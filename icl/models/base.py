"""The model contract: one registry entry per model, carrying everything about it.

A model is one file that defines a frozen config dataclass (its fields are exactly
``config.model`` minus ``name``, each with a default and a one-line comment; choices
are checked in ``__post_init__``), an ``nnx.Module`` whose ``__call__(batch)``
returns the prediction the task's loss takes, and a `ModelEntry`. Adding a model is
that file and one line in ``icl.models.MODELS`` (or a `icl.models.register` call).

Entry fields:
  config          the config dataclass
  build           (cfg, task, rngs) -> nnx.Module; the task supplies sizes
                  (dim, context_len, vocab_size, seq_len, output_heads, ...)
  merged_weights  (params, cfg) -> {'l0': (W_KQ [H, D, D], W_OV), ...}, the merged
                  per-head weights the weight probes and snapshots read; None for a
                  model without attention weights to merge (weight probes are skipped)
  check           (cfg) -> None, raising ValueError (one line) for values that the
                  config dataclass cannot check in ``__post_init__`` because a
                  vmapped sweep may pass a traced value (e.g. ``init_scale > 0``)
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp

PyTree = Any


@dataclasses.dataclass(frozen=True)
class ModelEntry:
  """A registered model: config dataclass, builder, merged weights, extra checks."""

  config: type
  build: Callable[..., Any]
  merged_weights: Callable[[PyTree, Any], dict] | None = None
  check: Callable[[Any], None] | None = None
  # The model reads batch["readout_positions"] [B, P] and then predicts at those
  # positions only ([B, P, ...]); the trainer passes the task's `loss_positions`.
  readout_positions: bool = False
  # XLA:CPU's YNNPACK fusion list for this model's training and evaluation programs
  # (`icl.train.xla_options`): None keeps XLA's default (dots and reductions fused
  # into YNNPACK subgraphs); "individual_dot" hands YNNPACK each dot alone. Every
  # shipped model keeps the default (benchmarks/RESULTS.md, "XLA:CPU fusion").
  cpu_fusion: str | None = None

  @property
  def fields(self) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(self.config))

  @property
  def defaults(self) -> dict[str, Any]:
    """Every field's default: a stored config that lacks a field had this value."""
    return {f.name: f.default for f in dataclasses.fields(self.config)}

  def make_config(self, model_config) -> Any:
    """The config dataclass from itself or from a mapping with the same fields
    (``config.model``, whose ``name`` is dropped)."""
    if isinstance(model_config, self.config):
      return model_config
    return self.config(**{k: v for k, v in dict(model_config).items() if k != "name"})

  def validate(self, model_config) -> Any:
    """The config dataclass, or ValueError (one line) for a bad value."""
    cfg = self.make_config(model_config)
    if self.check is not None:
      self.check(cfg)
    return cfg

  def __call__(self, model_config, task, rngs) -> Any:
    """The module for `task` (``MODELS[name](config.model, task, rngs)``)."""
    return self.build(self.make_config(model_config), task, rngs)


def value(x):
  """An array from a params leaf (a plain array or an ``nnx.Param``/``Variable``)."""
  return x[...] if hasattr(x, "get_value") else x


def find_layers(params: PyTree, is_layer: Callable[[Any], bool]) -> list[Any]:
  """The sub-mappings of a params tree for which `is_layer` holds, in tree order
  (depth first; a matching sub-mapping is not searched further)."""
  if not hasattr(params, "keys"):
    return []
  if is_layer(params):
    return [params]
  return [layer for key in params.keys() for layer in find_layers(params[key], is_layer)]


def spectral_norm(w: jax.Array, iters: int = 256) -> jax.Array:
  """Largest singular value of each matrix: [..., m, n] -> [...].

  Power iteration on the Gram matrix WᵀW from a fixed start, then the Rayleigh
  quotient: pure matmuls. (A batched LAPACK SVD inside the training scan deadlocked
  its thread pool when several host devices ran it at once.) The error falls like
  (σ₂/σ₁)^(4·iters) and is at most σ₁² − σ₂² when the top two are nearly equal, so
  with 256 iterations it is at float32 rounding for the probes' matrices.
  """
  gram = jnp.swapaxes(w, -1, -2) @ w  # [..., n, n]
  n = gram.shape[-1]
  start = jnp.cos(jnp.arange(1, n + 1, dtype=gram.dtype) * 1.618) + 1.5  # no symmetry
  v = jnp.broadcast_to(start / jnp.linalg.norm(start), gram.shape[:-1])

  def body(_, v):
    v = jnp.einsum("...ij,...j->...i", gram, v)
    return v / (jnp.linalg.norm(v, axis=-1, keepdims=True) + 1e-30)

  v = jax.lax.fori_loop(0, iters, body, v)
  return jnp.sqrt(jnp.maximum(jnp.einsum("...i,...ij,...j->...", v, gram, v), 0.0))
