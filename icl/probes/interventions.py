"""Head interventions at evaluation: ablate (zero) or scale a head's output, or clamp
its attention to uniform, and report the loss change on fresh prompts.

For the one-layer model (docs/regression.md, "Model") head h contributes
O_h V_h Z softmax(.) to the prediction: zeroing O_h removes it, scaling O_h by c
scales it, and zeroing Q_h makes its scores 0, i.e. its softmax attention uniform
over the context. The functions act on a params dict (or the sub-dict at
`layer_path`) in one of two layouts:

- one_layer's: query/key/value [H, D, D], out [H, N, D] (the head is the first axis);
- the transformer's attention (`layer_path` e.g. ('blocks', 0, 'attn')): Linear
  kernels {'kernel': query/key/value [D, H*d_h], out [H*d_h, D]}, head h in
  columns (query) or rows (out) h*d_h:(h+1)*d_h; these need `num_heads`
  (`head_loss_changes` reads it from the config).

In the transformer, scaling a head's rows of W_o scales its contribution exactly,
and zeroing its query columns makes its scores 0 (uniform softmax attention; RoPE,
a short convolution and a softcap keep 0 at 0). Refused, with the reason: either
edit under σReparam (W is divided by its spectral norm, which the edit changes for
every head), 'uniform' with qk-norm (LayerNorm of a zero query is its bias, not 0)
and, in `head_loss_changes` (which reads the config), 'uniform' with a non-softmax
attention (zero scores are not uniform weights there).
Dummy heads (diag ratio <= 0.7) should change the loss by almost nothing.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from icl import programs

Array = jax.Array


def _edit(params, layer_path: tuple, name: str, fn: Callable[[Array], Array]):
  """A copy of params with params[layer_path][name] replaced by fn(it)."""
  if not layer_path:
    return {**params, name: fn(params[name])}
  head, *rest = layer_path
  return {**params, head: _edit(params[head], tuple(rest), name, fn)}


def _linear_layout(params, layer_path: tuple) -> bool:
  """Whether the layer at `layer_path` holds Linear kernels (the transformer's)."""
  return isinstance(params_at(params, layer_path)["out"], dict)


def _head_rows(layer: dict, name: str, head: int, num_heads: int | None,
               layer_path: tuple) -> slice:
  """The rows (out) or columns (query) of head `head` in a Linear kernel."""
  if num_heads is None:
    raise ValueError(f"the layer at {layer_path} holds Linear kernels (the "
                     "transformer's layout): pass num_heads")
  if "gamma" in layer[name]:
    raise ValueError(f"{name} at {layer_path} uses σReparam: editing one head's part "
                     "of W changes the spectral norm every head is divided by")
  width = layer[name]["kernel"].shape[0 if name == "out" else 1]
  if width % num_heads or not 0 <= head < num_heads:
    raise ValueError(f"head {head} of num_heads={num_heads} does not fit a {name} "
                     f"kernel of width {width} at {layer_path}")
  d_h = width // num_heads
  return slice(head * d_h, (head + 1) * d_h)


def scale_head(params, head: int, factor: float, layer_path: tuple = (),
               num_heads: int | None = None):
  """Head `head`'s output O_h multiplied by `factor` (0 = ablation)."""
  if not _linear_layout(params, layer_path):
    return _edit(params, layer_path, "out", lambda o: o.at[head].multiply(factor))
  rows = _head_rows(params_at(params, layer_path), "out", head, num_heads, layer_path)
  return _edit(params, layer_path, "out",
               lambda o: {**o, "kernel": o["kernel"].at[rows].multiply(factor)})


def ablate_head(params, head: int, layer_path: tuple = (), num_heads: int | None = None):
  """Head `head` zeroed: O_h = 0."""
  return scale_head(params, head, 0.0, layer_path, num_heads)


def uniform_attention(params, head: int, layer_path: tuple = (),
                      num_heads: int | None = None):
  """Head `head`'s attention clamped to uniform over the keys: Q_h = 0."""
  if not _linear_layout(params, layer_path):
    return _edit(params, layer_path, "query", lambda q: q.at[head].set(0.0))
  layer = params_at(params, layer_path)
  if "query_norm" in layer:
    raise ValueError(f"the layer at {layer_path} uses qk-norm: LayerNorm of a zero "
                     "query is its bias, so Q_h = 0 does not make the attention uniform")
  cols = _head_rows(layer, "query", head, num_heads, layer_path)
  return _edit(params, layer_path, "query",
               lambda q: {**q, "kernel": q["kernel"].at[:, cols].set(0.0)})


INTERVENTIONS = {"ablate": ablate_head, "uniform": uniform_attention}


@programs.per_run(static_argnums=(0, 3, 4, 5, 6))
def _losses(exp, params, key, kind: str, num_prompts: int, layer_path: tuple,
            num_heads: int):
  """Loss of the model and of each single-head intervention on the same prompts."""
  base = exp.eval_loss(params, key, num_prompts, min(num_prompts, 4096))["loss"]
  edited = [exp.eval_loss(INTERVENTIONS[kind](params, h, layer_path, num_heads), key,
                          num_prompts, min(num_prompts, 4096))["loss"]
            for h in range(num_heads)]
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
  layer_path = tuple(layer_path)
  if _linear_layout(params, layer_path):
    model = exp.spec.model
    num_heads = model.num_heads
    if kind == "uniform" and getattr(model, "attention", "softmax") != "softmax":
      raise ValueError(f"'uniform' needs softmax attention (model.attention="
                       f"{model.attention!r}: zero scores are not uniform weights)")
  else:
    num_heads = params_at(params, layer_path)["out"].shape[0]
  base, edited = _losses(exp, params, key, kind, num_prompts, layer_path, num_heads)
  return {"loss": float(base), "loss_edited": jnp.asarray(edited),
          "rel_change": jnp.asarray((edited - base) / base)}
