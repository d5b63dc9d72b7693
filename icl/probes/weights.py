"""Weight probes: merged per-head W_KQ / W_OV and the regression paper's pattern probes.

He, Pan, Chen, Yang, *In-Context Linear Regression Demystified* (ICML 2025); spec
shared/spec/regression.md, "Merged per-head parameters" and "What emerges". With
A_h = W_KQ^h[:d, :d] and v_h = W_OV^h:

  omega_h       mean(diag A_h)                      (pattern 1/2: A_h ~ omega_h I)
  mu_h          v_h[-1]                             (pattern 3: v_h ~ mu_h e_last)
  diag_ratio_h  |diag A_h|_2 / |A_h|_F              -> 1 for a diagonal A_h
  homogeneity_h Var(diag A_h) / mean(diag A_h)^2    -> 0 for equal diagonal entries
  last_ratio_h  |v_h[-1]| / |v_h|_2                 -> 1 for last-entry-only OV
  y_row_norm_h  |W_KQ^h[d, :d]|_2                   -> 0 (the y-row of W_KQ)
  dummy_h       diag_ratio_h <= 0.7
  eta           sum over active heads of mu_h omega_h (the one-step GD step size)
  mu_sum        sum_h mu_h (pattern 4: zero-sum OV); mu_balance = |sum mu| / sum |mu|

omega, mu, diag_ratio, dummy, eta, mu_sum and the reduced loss come from
`theory.bridge.reduced_params`; this module adds the rest. The last column of W_KQ
multiplies the query's label slot (0) and never trains: no probe reads it.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from icl.models import one_layer
from theory import bridge

Array = jax.Array
ATTENTION_PARAMS = ("query", "key", "value", "out")


def _find_attention_layers(params, path=()) -> list[tuple[tuple, Any]]:
  """Sub-dicts of a params tree holding query/key/value/out (one_layer's layout)."""
  if not hasattr(params, "keys"):
    return []
  if all(name in params for name in ATTENTION_PARAMS):
    return [(path, params)]
  found = []
  for key in params.keys():
    found += _find_attention_layers(params[key], path + (key,))
  return found


def generic_merged_weights(params) -> dict[str, tuple[Array, Array]]:
  """{'l0': (W_KQ, W_OV), 'l1': ...} for every layer laid out like one_layer's
  (query/key/value [H, D, D], out [H, N, D]), in params-tree order."""
  layers = _find_attention_layers(params)
  return {f"l{i}": one_layer.merged_weights(p) for i, (_, p) in enumerate(layers)}


def _effective_kernel(linear) -> Array:
  """icl.models.sigma_reparam.Linear params {'kernel'[, 'gamma']} -> W [d_in, d_out]
  (σReparam's (γ/σ(W)) W with the exact spectral norm)."""
  w = linear["kernel"]
  w = w[...] if hasattr(w, "get_value") else w
  if "gamma" in linear:
    g = linear["gamma"]
    g = g[...] if hasattr(g, "get_value") else g
    w = (g / jnp.linalg.svd(w, compute_uv=False)[0]) * w
  return w


def transformer_merged_weights(params, num_heads: int) -> dict[str, tuple[Array, Array]]:
  """{'l0': (W_KQ [H, D, D], W_OV [H, D, D]), ...} of icl.models.transformer, whose
  query/key/value/out are Linear layers (kernels [D, H·d_h] and [H·d_h, D]).
  W_KQ^h = K_h^T Q_h / sqrt(d_h) (the model's score scale; qk-layernorm and rotary
  positions are not part of it); W_OV^h = (O_h V_h)^T."""
  def is_attention(p):
    return all(n in p and hasattr(p[n], "keys") and "kernel" in p[n]
               for n in ATTENTION_PARAMS)

  def find(p):
    if not hasattr(p, "keys"):
      return []
    if is_attention(p):
      return [p]
    return [layer for key in p.keys() for layer in find(p[key])]

  out = {}
  for i, layer in enumerate(find(params)):
    q, k, v, o = (_effective_kernel(layer[n]) for n in ATTENTION_PARAMS)
    d_model = q.shape[0]
    d_h = q.shape[1] // num_heads
    heads_in = lambda w: w.reshape(d_model, num_heads, d_h).transpose(1, 2, 0)  # [H, d_h, D]
    q, k, v = heads_in(q), heads_in(k), heads_in(v)
    o = o.reshape(num_heads, d_h, d_model)  # [H, d_h, D_out]
    w_kq = jnp.einsum("hik,hij->hkj", k, q) / jnp.sqrt(d_h)
    w_ov = jnp.einsum("hio,hij->hjo", o, v)
    out[f"l{i}"] = (w_kq, w_ov)
  return out


# Model name -> (params, num_heads) -> {layer name: (W_KQ [H, D, D], W_OV [H, D] or
# [H, D, N])}. A model whose attention parameters are laid out differently adds one
# line here.
MERGED_WEIGHTS: dict[str, Callable] = {
    "one_layer": lambda params, num_heads: {"l0": one_layer.merged_weights(params)},
    "transformer": transformer_merged_weights,
}


def merged_weights(model_name: str, params, num_heads: int | None = None
                   ) -> dict[str, tuple[Array, Array]]:
  """Merged weights of every attention layer of a model's params (`num_heads` is
  needed by models whose heads share one kernel, e.g. the transformer)."""
  if model_name in MERGED_WEIGHTS:
    return MERGED_WEIGHTS[model_name](params, num_heads)
  return generic_merged_weights(params)


def spectral_norm(w: Array) -> Array:
  """Largest singular value of each head's matrix: [H, D, D] -> [H]."""
  return jnp.linalg.svd(w, compute_uv=False)[..., 0]


def pattern_probes(w_kq: Array, w_ov: Array, d: int, L: int, s2: float) -> dict[str, Array]:
  """The four patterns' probes of one layer of single-output regression heads.

  Args:
    w_kq: [H, D, D] merged W_KQ, D = d + 1; w_ov: [H, D] merged W_OV.
    d, L, s2: data dimension, prompt length and noise variance (for the reduced loss).
  Returns: per-head [H] arrays omega, mu, diag_ratio, homogeneity, last_ratio,
    y_row_norm, dummy (0/1), and scalars eta, mu_sum, mu_balance, reduced_loss.
  """
  r = bridge.reduced_params(w_kq, w_ov, d, L, s2)
  diag = jnp.diagonal(w_kq[:, :d, :d], axis1=-2, axis2=-1)  # [H, d]
  mean = jnp.mean(diag, axis=-1)
  return {
      "omega": r["omega"],
      "mu": r["mu"],
      "diag_ratio": r["diag_ratio"],
      "homogeneity": jnp.var(diag, axis=-1) / jnp.square(mean),
      "last_ratio": jnp.abs(w_ov[:, -1]) / jnp.linalg.norm(w_ov, axis=-1),
      "y_row_norm": jnp.linalg.norm(w_kq[:, d, :d], axis=-1),
      "dummy": r["dummy"].astype(jnp.float32),
      "eta": r["eta"],
      "mu_sum": r["mu_sum"],
      "mu_balance": jnp.abs(r["mu_sum"]) / jnp.sum(jnp.abs(r["mu"])),
      "reduced_loss": r["reduced_loss"],
  }


def weight_probes(model_name: str, params, task, num_heads: int | None = None
                  ) -> dict[str, Array]:
  """All weight probes of a model, as a flat dict (see `icl.probes.flat_keys`):
  'spectral_norm/l0' -> [H] for every layer, and for a single-layer model on a
  single-output task in the regression format the pattern probes ('omega' -> [H],
  'eta' -> []). 'reduced_loss' is the regression loss L~ of the spec, so a task in that
  format that is not regression (in-context parity: no `noise_var`) goes without it."""
  layers = merged_weights(model_name, params, num_heads)
  out = {f"spectral_norm/{name}": spectral_norm(w_kq)
         for name, (w_kq, _) in layers.items()}
  if len(layers) == 1 and getattr(task, "num_outputs", None) == 1:
    (w_kq, w_ov), = layers.values()
    if w_ov.ndim == 2 and w_kq.shape[-1] == task.dim + 1:
      regression = hasattr(task, "noise_var")
      patterns = pattern_probes(w_kq, w_ov, task.dim, task.context_len,
                                task.noise_var if regression else 0.0)
      if not regression:
        del patterns["reduced_loss"]
      out.update(patterns)
  return out
