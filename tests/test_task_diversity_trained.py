"""Raventós et al.'s task-diversity direction, trained: a model pretrained on a small
pool (M = 4) behaves like the pool's Bayes estimator (dMMSE), one pretrained on fresh
tasks (M = infinity) like ridge (docs/deep_icl.md, "Task diversity";
WORKSPACE_NOTES.md, "Task diversity").

The fast test trains both at `configs/task_diversity.py`'s size for a few hundred
steps in-process and scores them with `icl.evaluate.curves` on pool and fresh tasks;
the slow one reads the M-sweep's targets (spec-sized sweep, `:short` cut).
"""

import jax

from configs import task_diversity
from icl.evaluate import curves as curves_lib
from icl.train import train_and_evaluate

Z = 4.0  # standard errors of margin
FAST = "steps=400,lr=3e-3,train.warmup_steps=50,train.schedule=cosine"


def _curves(config, workdir, num_prompts=2048):
  train_and_evaluate(config, workdir)
  from icl.evaluate.loading import load_run
  _, exp, states, _ = load_run(workdir)
  return curves_lib.evaluate_curves(exp, states["params"], jax.random.key(11),
                                    num_prompts, 2048, "noisy_linear")


def _fast(m):
  c = task_diversity.get_config(f"M={m},{FAST}")
  c.train.log_every = c.train.eval_every = c.train.ckpt_every = 400
  c.eval.num_prompts = c.eval.batch_size = 256
  return c


def test_small_pool_is_dmmse_like_and_fresh_tasks_ridge_like(tmp_path):
  small = _curves(_fast(4), str(tmp_path / "m4"))
  inf = _curves(_fast(0), str(tmp_path / "minf"))
  pool = small["pool"]
  gap = pool["dist/ridge"]["mean"] - pool["dist/dmmse"]["mean"]
  assert gap > Z * (pool["dist/ridge"]["mean_se"] + pool["dist/dmmse"]["mean_se"]), (
      pool["dist/ridge"]["mean"], pool["dist/dmmse"]["mean"])
  # on fresh tasks the M = 4 model is worse than the M = infinity one, and farther
  # from ridge
  f4, finf = small["fresh"], inf["fresh"]
  assert f4["model"]["mean"] - finf["model"]["mean"] > Z * (
      f4["model"]["mean_se"] + finf["model"]["mean_se"]), (f4["model"]["mean"],
                                                          finf["model"]["mean"])
  assert f4["dist/ridge"]["mean"] > finf["dist/ridge"]["mean"] + Z * (
      f4["dist/ridge"]["mean_se"] + finf["dist/ridge"]["mean_se"])
