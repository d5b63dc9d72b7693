"""Head interventions at evaluation: ablate (zero) or scale a head's output, or clamp
its attention to uniform, and report the loss change on fresh prompts.

For the one-layer model (docs/regression.md, "Model") head h contributes
O_h V_h Z softmax(.) to the prediction: zeroing O_h removes it, scaling O_h by c
scales it, and zeroing Q_h makes its scores 0, i.e. its softmax attention uniform
over the context. The functions act on a params dict (or the sub-dict at
`layer_path`) laid out like one_layer's: query/key/value [H, D, D], out [H, N, D].
Dummy heads (diag ratio <= 0.7) should change the loss by almost nothing.
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp

Array = jax.Array


def _edit(params, layer_path: tuple, name: str, fn: Callable[[Array], Array]):
  """A copy of params with params[layer_path][name] replaced by fn(it)."""
  if not layer_path:
    return {**params, name: fn(params[name])}
  head, *rest = layer_path
  return {**params, head: _edit(params[head], tuple(rest), name, fn)}


def scale_head(params, head: int, factor: float, layer_path: tuple = ()):
  """Head `head`'s output O_h multiplied by `factor` (0 = ablation)."""
  return _edit(params, layer_path, "out", lambda o: o.at[head].multiply(factor))


def ablate_head(params, head: int, layer_path: tuple = ()):
  """Head `head` zeroed: O_h = 0."""
  return scale_head(params, head, 0.0, layer_path)


def uniform_attention(params, head: int, layer_path: tuple = ()):
  """Head `head`'s attention clamped to uniform over the keys: Q_h = 0."""
  return _edit(params, layer_path, "query", lambda q: q.at[head].set(0.0))


INTERVENTIONS = {
    "ablate": lambda params, head, layer_path=(): ablate_head(params, head, layer_path),
    "uniform": lambda params, head, layer_path=(): uniform_attention(params, head, layer_path),
}


@functools.partial(jax.jit, static_argnums=(0, 3, 4, 5))
def _losses(exp, params, key, kind: str, num_prompts: int, layer_path: tuple):
  """Loss of the model and of each single-head intervention on the same prompts."""
  num_heads = params_at(params, layer_path)["out"].shape[0]
  base = exp.eval_loss(params, key, num_prompts, min(num_prompts, 4096))["loss"]
  edited = [exp.eval_loss(INTERVENTIONS[kind](params, h, layer_path), key, num_prompts,
                          min(num_prompts, 4096))["loss"] for h in range(num_heads)]
  return base, jnp.stack(edited)


def params_at(params, layer_path: tuple):
  for key in layer_path:
    params = params[key]
  return params


def head_loss_changes(exp, params, key: Array, kind: str = "ablate",
                      num_prompts: int = 20_000, layer_path: tuple = ()) -> dict:
  """Per-head effect of an intervention on one seed's params.

  Returns {"loss": base loss, "loss_edited": [H], "rel_change": [H]} with
  rel_change = (edited - base) / base, all on the same `num_prompts` fresh prompts
  drawn from `key`.
  """
  base, edited = _losses(exp, params, key, kind, num_prompts, tuple(layer_path))
  return {"loss": float(base), "loss_edited": jnp.asarray(edited),
          "rel_change": jnp.asarray((edited - base) / base)}
