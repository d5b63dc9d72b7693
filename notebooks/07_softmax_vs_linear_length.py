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
# # Figure 7: softmax versus linear attention on prompts longer than training, every H
#
# **Paper's claim.** Softmax attention trained at L = 40 generalises to longer
# prompts (its weights normalise over however many tokens there are, so it stays a
# kernel estimator), while linear attention does not: with a fixed normaliser n = 40
# its prediction grows with the prompt length. Normalising linear attention by the
# prompt's own length (`model.linear_norm=prompt_len`) repairs it, which we add as a
# control.

# %%


import numpy as np

from _common import HEADS, QUICK, experiment_config, heads_runs, plt, save, seed_slice, train
from icl.evaluate import evaluate_workdir, load_run
from icl.models.one_layer import merged_weights
from theory import risks

D, L_TRAIN, S2 = 5, 40, 0.1
LENGTHS = [10, 40, 200] if QUICK else [10, 20, 40, 60, 80, 100, 150, 200]
num_prompts = 2048 if QUICK else 20_000
RUN_HEADS = (1, 2) if QUICK else HEADS  # QUICK: the test's budget
if QUICK:  # the H sweep's quick points are too short to generalise; train 300 steps
  softmax = {h: train(f"len_softmax_h{h}", experiment_config(**{"model.num_heads": h}))
             for h in RUN_HEADS}
else:
  softmax = heads_runs()  # the head-count sweep's runs
linear = {(h, norm): train(f"len_linear_{norm}_h{h}", experiment_config(
    "linear", **{"model.num_heads": h, "model.linear_norm": norm}))
    for h in RUN_HEADS for norm in ("train_len", "prompt_len")}
results = {("softmax", h): evaluate_workdir(wd, LENGTHS, num_prompts)
           for h, wd in softmax.items()}
results.update({(norm, h): evaluate_workdir(wd, LENGTHS, num_prompts)
                for (h, norm), wd in linear.items()})


def trained_eta(wd):
  """The trained step of seed 0: sum over all heads of mu_h * mean(diag A_h), read
  off the final weights (the eta probe counts active heads only)."""
  _, _, states, _ = load_run(wd)
  w_kq, w_ov = (np.asarray(w) for w in merged_weights(seed_slice(states["params"])))
  return float(np.sum(w_ov[:, -1] * w_kq[:, :D, :D].diagonal(axis1=-2, axis2=-1).mean(-1)))


# The closed form of the fixed-normaliser blow-up: at length L the model is one-step
# GD with step eta L / L_train (theory/risks.py, `fixed_norm_length_risk`).
closed = {h: [float(risks.fixed_norm_length_risk(trained_eta(linear[h, "train_len"]), D, n,
                                                 L_TRAIN, S2)) for n in LENGTHS]
          for h in RUN_HEADS}

# %%
fig, axes = plt.subplots(1, 3, figsize=(15, 4.5), sharey=True)
titles = {"softmax": "softmax attention", "train_len": "linear, n = 40 (training length)",
          "prompt_len": "linear, n = prompt length"}
theory = results["softmax", 2]["theory"]
for ax, kind in zip(axes, ("softmax", "train_len", "prompt_len")):
  for h in RUN_HEADS:
    res = results[kind, h]
    mse = [res["context_len"][str(n)] for n in LENGTHS]
    se = [res["context_len_se"][str(n)] for n in LENGTHS]
    line = ax.errorbar(LENGTHS, mse, yerr=se, marker="o", ms=3, capsize=2, label=f"H = {h}")
    if kind == "train_len":
      ax.plot(LENGTHS, closed[h], ls=":", color=line[0].get_color(), lw=1.5)
  ax.plot(LENGTHS, [theory["gd_opt"][str(n)] for n in LENGTHS], "k--", lw=1,
          label="optimal one-step GD")
  ax.plot(LENGTHS, [theory["ridge"][str(n)] for n in LENGTHS], "k-.", lw=1,
          label="Bayes / ridge")
  ax.axvline(L_TRAIN, color="gray", lw=0.8)
  ax.set(xlabel="prompt length L at test", yscale="log", title=titles[kind])
axes[0].set_ylabel("test MSE (incl. noise σ² = 0.1)")
axes[1].text(0.02, 0.02, "dotted: gd_risk(η·L/40), the closed form", fontsize=8,
             transform=axes[1].transAxes)
axes[0].legend(fontsize=8)
fig.tight_layout()
print(save(fig, "fig7_softmax_vs_linear_length"))

for (kind, h), res in results.items():
  print(f"{kind:10s} H={h}", "  ".join(f"L={n}: {res['context_len'][str(n)]:.3f}"
                                      for n in LENGTHS))
for h in RUN_HEADS:
  print(f"closed form, fixed normaliser, H={h}:",
        "  ".join(f"L={n}: {v:.3f}" for n, v in zip(LENGTHS, closed[h])))

# %% [markdown]
# **Check against the paper.** Beyond L = 40 every softmax model keeps improving
# (H = 1 too: the paper reads ≈ 0.28 at L = 100 for one head), the fixed-normaliser
# linear models get worse exactly as one-step GD with the step η·L/40 predicts, and
# the prompt-normalised linear models track GD again.

# %%
for h in RUN_HEADS:
  soft = results["softmax", h]["context_len"]
  lin = results["train_len", h]["context_len"]
  assert soft["200"] < soft["40"], h
  assert lin["200"] > lin["40"], h
  assert lin["200"] > 2 * soft["200"], h
  if not QUICK:  # the closed form explains the blow-up (within 10% at L = 200)
    assert abs(lin["200"] / closed[h][-1] - 1) < 0.10, (h, lin["200"], closed[h][-1])
