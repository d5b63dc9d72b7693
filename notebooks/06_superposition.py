# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Figure 6: two tasks in superposition, H = 3 versus H = 4
#
# Multi-task data (docs/regression.md, "Multi-task (superposition)"): d = 6, two
# 4-dimensional tasks sharing x and overlapping on 2 coordinates
# (y1 = β1ᵀx[0:4], y2 = β2ᵀx[2:6]), tokens (x, y1, y2), two outputs, L = 48. **Paper's claim.** With 2 < H < 2N = 4 heads, heads superpose
# the tasks (a head's OV vector reads both label slots); with H ≥ 2N each active head
# serves one task (its OV vector reads one label slot and writes one output).

# %%
import numpy as np

from _common import QUICK, experiment_config, save, seed_slice, train
from icl.evaluate import load_run
from icl.workdir import read_metrics
from icl.models.one_layer import merged_weights
from icl.figures import weight_heatmaps

runs = {h: train(f"superposition_h{h}", experiment_config(
    "superposition", **{"model.num_heads": h,
                        "train.num_steps": 300 if QUICK else 20_000}))
        for h in (3, 4)}


def task_share(w_ov):
  """Per head: the fraction of |O V| on the label slots (y1, y2) that sits on each
  output, from W_OV [H, D, 2] (rows: token coordinate, columns: output)."""
  labels = np.abs(w_ov[:, -2:, :])  # [H, label slot, output]
  return labels.sum(1) / labels.sum((1, 2))[:, None]


shares = {}
for h, wd in runs.items():
  config, exp, states, step = load_run(wd)
  w_kq, w_ov = (np.asarray(w) for w in merged_weights(seed_slice(states["params"])))
  fig = weight_heatmaps(w_kq, w_ov, config.task.dim,
                        title=f"superposition, H = {h}, step {step}: W_KQ (8×8) and "
                              "W_OV (8 × 2 outputs)")
  print(save(fig, f"fig6_superposition_h{h}"))
  shares[h] = task_share(w_ov)
  eval_loss = [r["eval_loss"] for r in read_metrics(wd) if "eval_loss" in r][-1]
  print(f"H={h}: eval MSE {eval_loss:.4f}; output share per head (output 1, output 2):",
        np.round(shares[h], 2).tolist())

# %% [markdown]
# **What the data show.** For each head the printed pair is the fraction of its
# label-slot OV weight that writes output 1 vs output 2: a head serving one task has
# a pair near (1, 0) or (0, 1); a superposing head is mixed. WORKSPACE_NOTES.md
# records the full-run numbers.

# %%
assert all(np.allclose(s.sum(1), 1.0) for s in shares.values())
