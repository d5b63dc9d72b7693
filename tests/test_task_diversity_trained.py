"""Raventós et al.'s task-diversity direction, trained: a model pretrained on a small
pool (M = 4) behaves like the pool's Bayes estimator (dMMSE), one pretrained on fresh
tasks (M = infinity) like ridge (docs/deep_icl.md, "Task diversity";
WORKSPACE_NOTES.md, "Task diversity").

The fast test trains both at `configs/task_diversity.py`'s size for a few hundred
steps in-process and scores them with `icl.evaluate.curves` on pool and fresh tasks;
the slow one reads the M-sweep's targets (spec-sized sweep, `:short` cut).
"""

import jax
import pytest

from configs import task_diversity
from icl.evaluate import curves as curves_lib
from icl.train import train_and_evaluate

Z = 4.0  # standard errors of margin
FAST = "steps=400,lr=3e-3,train.warmup_steps=50,train.schedule=cosine"


@pytest.mark.parametrize("variant", [None, "quick", "short", "paper"])
def test_sweep_points_validate(variant):
  from configs.sweeps import task_diversity as sweep_config
  from icl.sweep import grid
  points = grid.expand(sweep_config.get_config(variant))
  sizes = [p.config.task.pool_size for p in points]
  assert sizes[-1] == 0 and sizes[:-1] == sorted(sizes[:-1])  # M = infinity last
  assert all(p.config.task.pool_seed == p.config.seed for p in points)


def _trained(config, workdir):
  train_and_evaluate(config, workdir)
  from icl.evaluate.loading import load_run
  _, exp, states, _ = load_run(workdir)
  return exp, states["params"]


def _fast(m):
  c = task_diversity.get_config(f"M={m},{FAST}")
  c.train.log_every = c.train.eval_every = c.train.ckpt_every = 400
  c.eval.num_prompts = c.eval.batch_size = 256
  return c


def test_small_pool_is_dmmse_like_and_fresh_tasks_ridge_like(tmp_path):
  """Both models on the M = 4 pool's tasks (same prompts): the M = 4 model is closer
  to the pool's dMMSE than to ridge, and far closer to dMMSE than the M = infinity
  model is; on fresh tasks the M = 4 model is the worse one."""
  exp4, params4 = _trained(_fast(4), str(tmp_path / "m4"))
  _, params_inf = _trained(_fast(0), str(tmp_path / "minf"))
  key = jax.random.key(11)
  score = lambda params, pool: curves_lib.curves(  # noqa: E731
      exp4, params, key, 2048, 2048, "noisy_linear", pool=pool, names=("dmmse", "ridge"))
  small, inf = score(params4, True), score(params_inf, True)
  se = lambda c, name: c[name]["mean_se"]  # noqa: E731
  assert small["dist/ridge"]["mean"] - small["dist/dmmse"]["mean"] > Z * (
      se(small, "dist/ridge") + se(small, "dist/dmmse")), (
      small["dist/ridge"]["mean"], small["dist/dmmse"]["mean"])
  assert inf["dist/dmmse"]["mean"] - small["dist/dmmse"]["mean"] > Z * (
      se(inf, "dist/dmmse") + se(small, "dist/dmmse")), (
      inf["dist/dmmse"]["mean"], small["dist/dmmse"]["mean"])
  f4, finf = score(params4, False), score(params_inf, False)
  assert f4["model"]["mean"] > finf["model"]["mean"], (f4["model"]["mean"],
                                                       finf["model"]["mean"])


@pytest.mark.slow  # the ':short' sweep: 5 runs of 4000 steps (~10 min on a quiet 2-core CPU)
def test_short_sweep_targets(tmp_path):
  """The M-sweep's targets (WORKSPACE_NOTES.md, "Task diversity"): dMMSE-like at
  M = 4, ridge side for M >= 32 on both task sets, M = 256 within 0.02 of M = infinity
  on fresh tasks, the pool-task crossover within one octave of 2^4."""
  from configs.sweeps import task_diversity as sweep_config
  from icl.evaluate import task_diversity as td
  from icl.sweep import grid
  config = sweep_config.get_config("short")
  points = grid.expand(config)
  grid.prepare_dir(str(tmp_path), config, points)
  for p in points:
    grid.run_point(p.config.to_dict(), p.workdir)
  out = td.analyse(str(tmp_path))
  rows = {r["M"]: r for r in out["rows"]}
  m4 = rows[4]
  assert m4["pool/dist/dmmse"] < 0.5 * m4["pool/dist/ridge"], m4
  for m in (32, 256):
    for s in ("pool", "fresh"):
      assert rows[m][f"{s}/dist/ridge"] < rows[m][f"{s}/dist/dmmse"], (m, s, rows[m])
  assert abs(rows[256]["fresh/model"] - rows[0]["fresh/model"]) < 0.02 + Z * (
      rows[256]["fresh/model/se"] + rows[0]["fresh/model/se"])
  assert out["crossover_pool"] is not None and 8 <= out["crossover_pool"] <= 32
