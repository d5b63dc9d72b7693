"""Losses and metrics shared by tasks and models (pure, jit-able).

Shapes: logits [..., V] over the task's vocabulary, targets [...] int32, mask [...]
float32 (1 = scored). The leading dims are [B, T] for most tasks, [B, T, N] for
multi-head outputs; every function here is agnostic to them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def masked_mean(values: jax.Array, mask: jax.Array) -> jax.Array:
  """Sum(values * mask) / sum(mask); NaN when the mask is empty (nothing to report)."""
  mask = mask.astype(values.dtype)
  return jnp.sum(values * mask) / jnp.sum(mask)


def token_cross_entropy(logits: jax.Array, targets: jax.Array) -> jax.Array:
  """-log softmax(logits)[target] = logsumexp(logits) - logits[target] per position: [...].

  The target's logit is picked by comparing against an iota (a select fused into the
  reduction), not by a gather: the gradient is then softmax - onehot in one
  elementwise pass, where a gather's gradient is a scatter into a zero [..., V]
  buffer (on CPU the largest single cost of the token models' backward pass).
  """
  logits = logits.astype(jnp.float32)
  hit = jnp.arange(logits.shape[-1], dtype=targets.dtype) == targets[..., None]
  picked = jnp.sum(jnp.where(hit, logits, 0.0), axis=-1)
  return jax.nn.logsumexp(logits, axis=-1) - picked


def masked_cross_entropy(logits: jax.Array, targets: jax.Array,
                         mask: jax.Array) -> jax.Array:
  """Mean next-token cross-entropy over the positions where mask is 1."""
  return masked_mean(token_cross_entropy(logits, targets), mask)


def gather_positions(values: jax.Array, positions: jax.Array) -> jax.Array:
  """values [B, T, ...] at positions [B, P] (int): [B, P, ...]."""
  index = positions.reshape(positions.shape + (1,) * (values.ndim - 2))
  return jnp.take_along_axis(values, index, axis=1)


def correct(logits: jax.Array, targets: jax.Array) -> jax.Array:
  """1.0 where argmax(logits) == target: [...]."""
  return (jnp.argmax(logits, axis=-1) == targets).astype(jnp.float32)


def masked_accuracy(logits: jax.Array, targets: jax.Array, mask: jax.Array) -> jax.Array:
  return masked_mean(correct(logits, targets), mask)


def z_loss(logits: jax.Array, mask: jax.Array) -> jax.Array:
  """Mean over scored positions of log^2 Z, Z = sum_v exp(logits_v).

  The auxiliary output loss of Wortsman et al. (2023), used as
  ``loss + config.train.z_loss * z_loss(logits, batch["loss_mask"])`` (1e-4 there).
  logits [..., V], mask [...].
  """
  log_z = jax.nn.logsumexp(logits.astype(jnp.float32), axis=-1)
  return masked_mean(jnp.square(log_z), mask)
