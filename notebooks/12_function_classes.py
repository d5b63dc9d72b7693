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
# # Garg et al. (2022), Fig. 2 and Fig. 5a: in-context linear and sparse-linear regression
#
# A GPT-2-style transformer (`icl/models/gpt2.py`, Garg's prompt format) trained on
# prompts of one random function each; the per-position error (squared error / E[y²],
# i.e. / d for linear and / s for sparse functions) against the number of in-context
# examples k, beside the classical estimators fitted to the same prompt
# (`theory/baselines.py`, scored by `icl.evaluate.curves`). docs/deep_icl.md has the
# setting; WORKSPACE_NOTES.md the numbers.
#
# **Paper's claims.** Linear, d = 20: the transformer tracks least squares at every k
# (0.02 at k = d, 0.0006 at k = 2d, Standard model, 500k steps on a GPU); averaging
# and 3-NN are far worse. Sparse, d = 20, s = 3: the transformer is at Lasso's level
# (0.58 / 0.09 vs 0.62 / 0.08 at k = 5 / 10), far below least squares.
#
# **Here (a 2-core CPU).** The linear panel is the toy run of
# `configs/function_classes.py` (d = 5, K = 11, the Tiny model: tracks least squares
# below k = d, bends at k = d, ≲ 0.1 at k = 2d). The sparse panel trains the Tiny model
# at d = 10, s = 3 (K = 21), and draws the baselines at Garg's own size (d = 20, s = 3)
# for reference; the paper's size needs `configs/function_classes.py:paper,sparse_linear`
# on a GPU.

# %%
import sys

import jax
import numpy as np

from _common import QUICK, ROOT, plt, save, train

sys.path.insert(0, ROOT)
from configs import function_classes  # noqa: E402
from icl import figures  # noqa: E402
from icl.evaluate import evaluate_workdir  # noqa: E402
from icl.tasks.sparse_linear import SparseLinearTask  # noqa: E402
from theory import baselines  # noqa: E402

NUM_PROMPTS = 256 if QUICK else 4096


def run(name, variant):
  config = function_classes.get_config(("quick," if QUICK else "") + variant)
  workdir = train(name, config)
  return config, evaluate_workdir(workdir, None, NUM_PROMPTS)


def table(curves, names):
  k = len(curves["model"]["err"])
  print("k      " + "".join(f"{i:>7}" for i in range(k)))
  for n in names:
    if n in curves:
      print(f"{n:<14}" + "".join(f"{v:7.3f}" for v in curves[n]["err"]))


# %% [markdown]
# ## Linear functions (Fig. 2), d = 5

# %%
lin_config, lin = run("garg_linear", "default")
fig = figures.error_vs_examples(lin["curves"], f"linear, d = {lin_config.task.dim}, "
                                f"Tiny model, step {lin['step']}")
print(save(fig, "fig12_linear"))
table(lin["curves"]["fresh"], ["model", "least_squares", "averaging", "3-nn"])

# %% [markdown]
# ## Sparse linear functions (Fig. 5a): a trained model at d = 10, the baselines at d = 20

# %%
sp_config, sp = run("garg_sparse", "dim=10,sparse_linear")
task20 = SparseLinearTask(dim=20, context_len=11 if QUICK else 41, sparsity=3)
batch = task20.sample(jax.random.key(0), 64 if QUICK else 1280, full_size=True)
x, y = batch["x"], batch["y"]
preds = {"least_squares": baselines.least_squares(x, y, 1e-4),
         "lasso": baselines.lasso(x, y, 0.01),
         "sparse_bayes": jax.jit(jax.vmap(lambda a, b: baselines.sparse_bayes(a, b, 3)))(x, y),
         "averaging": baselines.averaging(x, y),
         "3-nn": baselines.nearest_neighbours(x, y, 3)}
garg20 = {n: np.asarray(((p - y) ** 2).mean(0)) / task20.normaliser for n, p in preds.items()}

fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.8))
for n, c in sp["curves"]["fresh"].items():
  if not n.startswith("dist/"):
    style = figures.CURVE_STYLES.get(n, {})
    axes[0].plot(np.arange(len(c["err"])), c["err"], label=n, **style)
axes[0].set_title(f"trained, d = {sp_config.task.dim}, s = 3 (step {sp['step']})", fontsize=10)
for n, e in garg20.items():
  axes[1].plot(np.arange(len(e)), e, label=n, **figures.CURVE_STYLES.get(n, {}))
axes[1].set_title("baselines at Garg's size, d = 20, s = 3", fontsize=10)
for ax in axes:
  ax.axhline(1, color="gray", lw=0.8, ls=":")
  ax.set(xlabel="in-context examples k", ylabel="squared error / s", ylim=(0, 1.6))
  ax.grid(alpha=0.3)
  ax.legend(fontsize=7)
fig.tight_layout()
print(save(fig, "fig12_sparse"))
table(sp["curves"]["fresh"], ["model", "least_squares", "lasso", "sparse_bayes"])
for n in ("least_squares", "lasso", "sparse_bayes"):
  e = garg20[n]
  print(f"d = 20 {n:<14} k = 5: {e[5]:.3f}  k = 10: {e[10]:.3f}")
