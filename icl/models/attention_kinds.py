"""Attention kinds: how scores become weights, looked up by name in `ATTENTION`.

Each kind is ``fn(logits, mask, bias, opts) -> weights`` with
  logits  [B, H, Lq, Lk]  scores q·k/√d_h (after qk-norm, feature map, soft-cap)
  mask    [Lq, Lk] bool   True where key k is visible to query q (causal: k <= q)
  bias    [H]             per-head score bias (used by 'sigmoid')
  opts                    the model options (a `TransformerConfig`)
and returns weights [B, H, Lq, Lk], exactly 0 at masked entries.

  softmax  softmax over visible keys
  linear   the raw score (no normalisation; opts.linear_normalizer may divide by the query
           position or the row sum); with feature_map 'elu1' and linear_normalizer 'sum'
           this is Katharopoulos et al. (2020)
  sigmoid  sigmoid(s + b), no normalisation over keys (Ramapuram et al., 2024; Gu et
           al., 2024 find it has no attention sink); b fixed or learned, e.g. -log T
  relu     relu(s) / i with i the 1-based query position (Guo et al., 2024)

Feature maps (`FEATURE_MAPS`, applied to q and k for 'linear' only): 'identity'
(the associative memory M = Σ v kᵀ) or 'elu1' (elu(x) + 1 > 0).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def causal_mask(length: int) -> jax.Array:
  """[L, L] bool, True on and below the diagonal."""
  return jnp.tril(jnp.ones((length, length), bool))


def query_positions(mask: jax.Array) -> jax.Array:
  """1-based query position i = number of visible keys, shaped [Lq, 1]."""
  return jnp.sum(mask, axis=-1, keepdims=True).astype(jnp.float32)


def softmax_weights(logits, mask, bias, opts):
  del bias, opts
  return jax.nn.softmax(jnp.where(mask, logits, -jnp.inf), axis=-1)


# Linear attention: what a row of raw scores is divided by.
LINEAR_NORMALIZERS = {
    "none": lambda w, mask: w,
    "position": lambda w, mask: w / query_positions(mask),
    "sum": lambda w, mask: w / (jnp.sum(w, axis=-1, keepdims=True) + 1e-6),
}


def linear_weights(logits, mask, bias, opts):
  del bias
  return LINEAR_NORMALIZERS[opts.linear_normalizer](jnp.where(mask, logits, 0.0), mask)


def sigmoid_weights(logits, mask, bias, opts):
  del opts
  return jnp.where(mask, jax.nn.sigmoid(logits + bias[:, None, None]), 0.0)


def relu_weights(logits, mask, bias, opts):
  del bias, opts
  return jnp.where(mask, jax.nn.relu(logits), 0.0) / query_positions(mask)


ATTENTION = {
    "softmax": softmax_weights,
    "linear": linear_weights,
    "sigmoid": sigmoid_weights,
    "relu": relu_weights,
}

FEATURE_MAPS = {
    "identity": lambda x: x,
    "elu1": lambda x: jax.nn.elu(x) + 1.0,
}
