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

PyTree = Any


@dataclasses.dataclass(frozen=True)
class ModelEntry:
  """A registered model: config dataclass, builder, merged weights, extra checks."""

  config: type
  build: Callable[..., Any]
  merged_weights: Callable[[PyTree, Any], dict] | None = None
  check: Callable[[Any], None] | None = None

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
