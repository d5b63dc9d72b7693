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
# # Figure 1: W_KQ and W_OV per head, and how they emerge
#
# **Paper's claim.** After training, every active head has a diagonal, homogeneous
# KQ block (A_h ≈ ω_h I, y-row ≈ 0) and an OV vector with only its last entry
# non-zero (v_h ≈ (0, …, 0, μ_h)); heads come in ± pairs (sign μ_h = sign ω_h,
# Σ_h μ_h ≈ 0). For H > 2 some heads are dummies. Colour: blue–white–red centred at 0.

# %%
import numpy as np

from _common import HEADS, QUICK, heads_runs, save, seed_slice
from icl.evaluate import load_run
from icl.models.one_layer import merged_weights
from icl.figures import weight_evolution, weight_heatmaps
from icl.probes.snapshots import read_snapshots

runs = heads_runs()
for h in HEADS:
  config, exp, states, step = load_run(runs[h])
  w_kq, w_ov = (np.asarray(w) for w in merged_weights(seed_slice(states["params"])))
  fig = weight_heatmaps(w_kq, w_ov, config.task.dim,
                        title=f"H = {h}: merged weights at step {step} (seed 0)")
  print(save(fig, f"fig1_weights_h{h}"))
  print(f"H={h}: omega", np.round(np.diagonal(w_kq[:, :5, :5], axis1=1, axis2=2).mean(-1), 3),
        "mu", np.round(w_ov[:, -1], 3))

# %% [markdown]
# Evolution for H = 2: log-spaced snapshots recorded inside the training scan.

# %%
snaps = read_snapshots(runs[2])
series = [(s, a["W_KQ"][0], a["W_OV"][0]) for s, a in snaps]
fig = weight_evolution(series, 5, title="H = 2: W_KQ (rows 1-2) and W_OV (row 3) over training")
print(save(fig, "fig1_weights_evolution_h2"))

# %% [markdown]
# **Check against the paper.** The final H = 2 heads are diagonal with opposite
# signs and last-entry OV vectors of opposite signs.

# %%
config, exp, states, step = load_run(runs[2])
w_kq, w_ov = (np.asarray(w) for w in merged_weights(seed_slice(states["params"])))
omega = np.diagonal(w_kq[:, :5, :5], axis1=1, axis2=2).mean(-1)
if not QUICK:  # QUICK trains a few steps only: nothing has emerged yet
  assert np.sign(omega[0]) != np.sign(omega[1])
  assert np.all(np.sign(w_ov[:, -1]) == np.sign(omega))
