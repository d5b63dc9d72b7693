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
# # Raventós et al. (2023), Fig. 2: the task-diversity transition, dMMSE to ridge
#
# A GPT-2-style transformer (Raventós' prompt format) pretrained on noisy linear
# regression whose tasks come from a pool of M tasks drawn once (M = ∞: a fresh task
# per prompt). For each M, on pool tasks and on fresh tasks from the prior: the
# model's loss (/ D) beside the two Bayes estimators — dMMSE (the posterior mean
# under the uniform prior on the pool) and ridge (the Gaussian prior's) — and the
# model's distance to each (`icl.evaluate.task_diversity`). docs/deep_icl.md has the
# setting; WORKSPACE_NOTES.md the numbers.
#
# **Paper's claim.** Below a threshold M* the model behaves like dMMSE (good on pool
# tasks, poor on fresh ones); above it, like ridge, beating dMMSE on fresh tasks. M*
# ≈ 2^14 for the paper's model (D = 8, 500k steps). **Here** (D = 4, K = 8,
# σ² = 0.125, a 2-layer width-32 model, 8000 steps: `configs/sweeps/task_diversity.py`)
# the crossover moves down to M ≈ 2^4. Set ICL_TD_VARIANT=short for the cut that a
# loaded 2-core machine fits in about an hour.

# %%
import os
import sys

from _common import QUICK, ROOT, RUNS, save

sys.path.insert(0, ROOT)
from configs.sweeps import task_diversity as sweep_config  # noqa: E402
from icl import figures  # noqa: E402
from icl.evaluate import task_diversity as td  # noqa: E402
from icl.sweep import grid  # noqa: E402

variant = "quick" if QUICK else os.environ.get("ICL_TD_VARIANT", "default")
config = sweep_config.get_config(variant)
directory = os.path.join(RUNS, f"task_diversity_{variant}")
points = grid.expand(config)
grid.prepare_dir(directory, config, points)
for p in points:  # finished points are kept
  if not grid.is_done(p):
    grid.run_point(p.config.to_dict(), p.workdir)
out = td.analyse(directory)

# %%
fig = figures.task_diversity(out["rows"], f"task diversity (sweep '{variant}')")
print(save(fig, "fig13_task_diversity"))
print(td.format_rows(out["rows"]))
print(f"crossover on pool tasks: M = {out['crossover_pool']}")
