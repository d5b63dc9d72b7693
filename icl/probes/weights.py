"""Weight probes: merged per-head W_KQ / W_OV and the regression paper's pattern probes.

He, Pan, Chen, Yang, *In-Context Linear Regression Demystified* (ICML 2025); spec
docs/regression.md, "Merged per-head parameters" and "What emerges". With
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

import jax
import jax.numpy as jnp

from icl import models
from theory import bridge

Array = jax.Array


def merged_weights(model_name: str, params, model_config=None
                   ) -> dict[str, tuple[Array, Array]]:
  """{'l0': (W_KQ, W_OV), ...} of every attention layer: the registry entry's
  `merged_weights`. `model_config` is the model's config dataclass (or a mapping of
  its fields, or, for short, its `num_heads`); {} for a model without one."""
  entry = models.MODELS[model_name]
  if entry.merged_weights is None:
    return {}
  if isinstance(model_config, int):
    model_config = {"num_heads": model_config}
  cfg = entry.make_config(model_config if model_config is not None else {})
  return entry.merged_weights(params, cfg)


def spectral_norm(w: Array) -> Array:
  """Largest singular value of each head's matrix: [H, D, D] -> [H]
  (`icl.models.base.spectral_norm`: matmuls only, safe inside the training scan)."""
  return models.base.spectral_norm(w)


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


def head_task_assignment(w_kq: Array, w_ov: Array, task_mask) -> dict[str, Array]:
  """Which head serves which task in the superposition setting, read two ways.

  docs/regression.md, "Multi-task (superposition)": with H >= 2N heads each active
  head serves one task; with 2 < H < 2N some head serves several. A head serving
  task i has its KQ diagonal on the coordinates that task reads and writes its OV
  output to output i.

  Args:
    w_kq: [H, D, D] merged W_KQ (D = d + N); w_ov: [H, D, N] merged W_OV.
    task_mask: [N, d] 0/1, the coordinates each task reads (`task_mask()` of the
      superposition task).
  Returns: dict of
    kq_share [H, N]: each head's |diag A_h| on the coordinates only task i reads, as
      a share over tasks (the KQ block read-out);
    ov_share [H, N]: each head's |W_OV| on the label slots that writes output i, as a
      share over outputs (the OV column read-out);
    task [H]: argmax of ov_share; agree [H]: the two read-outs name the same task;
    purity [H]: max of ov_share (1 = one task, 1/N = an even mix).
  """
  mask = jnp.asarray(task_mask, jnp.float32)
  d = mask.shape[1]
  exclusive = mask * (mask.sum(0, keepdims=True) == 1)  # [N, d]
  diag = jnp.abs(jnp.diagonal(w_kq[:, :d, :d], axis1=-2, axis2=-1))  # [H, d]
  kq = diag @ exclusive.T  # [H, N]
  ov = jnp.abs(w_ov[:, d:, :]).sum(1)  # [H, N]: label slots summed, per output
  kq_share = kq / kq.sum(-1, keepdims=True)
  ov_share = ov / ov.sum(-1, keepdims=True)
  task = jnp.argmax(ov_share, -1)
  return {"kq_share": kq_share, "ov_share": ov_share, "task": task,
          "agree": task == jnp.argmax(kq_share, -1), "purity": ov_share.max(-1)}


def weight_probes(model_name: str, params, task, model_config=None) -> dict[str, Array]:
  """All weight probes of a model, as a flat dict (see `icl.records.probe_fields`):
  'spectral_norm/l0' -> [H] for every layer, and for a single-layer model on a
  single-output task in the regression format the pattern probes ('omega' -> [H],
  'eta' -> []). 'reduced_loss' is the regression theory's loss L~, so a task in that
  format without a regression noise variance (in-context parity) goes without it."""
  layers = merged_weights(model_name, params, model_config)
  out = {f"spectral_norm/{name}": spectral_norm(w_kq)
         for name, (w_kq, _) in layers.items()}
  if len(layers) == 1 and task.num_outputs == 1:
    (w_kq, w_ov), = layers.values()
    if w_ov.ndim == 2 and w_kq.shape[-1] == task.dim + 1:
      noise_var = task.theory_noise_var
      patterns = pattern_probes(w_kq, w_ov, task.dim, task.context_len,
                                0.0 if noise_var is None else noise_var)
      if noise_var is None:
        del patterns["reduced_loss"]
      out.update(patterns)
  return out
