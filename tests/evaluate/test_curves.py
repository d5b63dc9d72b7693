"""Per-position curves of function-class runs (icl/evaluate/curves.py) and the
task-diversity read-out (icl/evaluate/task_diversity.py), on untrained models: the
baselines' curves reproduce their closed forms, the model's and the distances equal
a direct computation on the same prompts, pool and fresh tasks differ as they must.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import function_classes, task_diversity
from icl.evaluate import curves as curves_lib
from icl.evaluate import task_diversity as td
from icl.train import core
from theory import baselines

Z = 4.0  # standard errors of margin


def _exp(config, seeds=1):
  config.train.num_seeds = seeds
  exp = core.Experiment.from_config(config)
  states = core.init_states(exp, core.seed_keys(exp.spec)[0])
  return exp, states["params"]


def test_linear_curves_match_closed_forms_and_a_direct_computation():
  exp, params = _exp(function_classes.get_config("quick"), seeds=2)
  key = jax.random.key(7)
  out = curves_lib.curves(exp, params, key, 2048, 1024, "linear", pool=False)
  assert set(out) == {"model", "least_squares", "averaging", "3-nn",
                      "dist/least_squares", "dist/averaging", "dist/3-nn"}
  d, k = exp.task.dim, np.arange(exp.task.context_len)
  ls, se = np.array(out["least_squares"]["err"]), np.array(out["least_squares"]["se"])
  want = np.maximum(1 - k / d, 0)
  assert np.all(np.abs(ls - want) < Z * se + 2e-3), (ls.round(3), want)
  avg, avg_se = np.array(out["averaging"]["err"])[1:], np.array(out["averaging"]["se"])[1:]
  assert np.all(np.abs(avg - (d + 1) / k[1:]) < Z * avg_se), avg.round(3)
  # the model's and the distance curves are those of the same prompts, seed by seed
  chunks = [exp.task.sample(kk, 1024, pool=False, full_size=True)
            for kk in jax.random.split(key, 2)]
  preds = [jax.vmap(lambda p, b=b: exp.apply(p, b))(params) for b in chunks]
  y = jnp.concatenate([b["y"] for b in chunks])
  model = jnp.concatenate(preds, 1)  # [S, B, K]
  nn3 = jnp.concatenate([baselines.nearest_neighbours(b["x"], b["y"], 3) for b in chunks])
  np.testing.assert_allclose(out["model"]["seeds"],
                             jnp.mean(jnp.square(model - y), 1) / d, rtol=2e-4)
  np.testing.assert_allclose(out["dist/3-nn"]["seeds"],
                             jnp.mean(jnp.square(model - nn3), 1) / d, rtol=2e-4)
  assert len(out["model"]["seeds"]) == 2 and out["model"]["mean_se"] > 0


def test_pool_curves_single_task_dmmse_is_the_noise_floor():
  # M = 1: dMMSE knows the task, so its loss on the pool is sigma^2 / D at every
  # position, and on fresh tasks about 2 + sigma^2 / D (docs/deep_icl.md).
  config = task_diversity.get_config("quick,M=1")
  exp, params = _exp(config)
  out = curves_lib.evaluate_curves(exp, params, jax.random.key(3), 2048, 2048,
                                   "noisy_linear", names=("dmmse", "ridge"))
  assert set(out) == {"fresh", "pool", "normaliser", "pool_size"}
  floor = config.task.noise_var / config.task.dim
  pool = np.array(out["pool"]["dmmse"]["err"])
  assert np.all(np.abs(pool - floor) < Z * np.array(out["pool"]["dmmse"]["se"])), pool
  w = np.asarray(exp.task.pool()["w"][0])
  fresh = out["fresh"]["dmmse"]["mean"]  # 1 + |w_1|^2 / D + sigma^2 / D for this pool
  want = 1 + w @ w / config.task.dim + floor
  assert abs(fresh - want) < Z * out["fresh"]["dmmse"]["mean_se"] + 0.02, (fresh, want)
  # ridge does not know the pool: the same on both task sets within their errors
  r_pool, r_fresh = out["pool"]["ridge"], out["fresh"]["ridge"]
  assert r_pool["mean"] > 10 * out["pool"]["dmmse"]["mean"]
  assert r_fresh["mean"] < fresh


def test_crossover_interpolates_in_log2_and_needs_a_sign_change():
  rows = [{"M": 4, "pool/dist/ridge": 0.4, "pool/dist/dmmse": 0.0},
          {"M": 16, "pool/dist/ridge": 0.2, "pool/dist/dmmse": 0.2},
          {"M": 64, "pool/dist/ridge": 0.1, "pool/dist/dmmse": 0.3},
          {"M": 0, "pool/dist/ridge": 0.1}]
  assert td.crossover(rows) == pytest.approx(16.0)
  rows[1]["pool/dist/dmmse"] = 0.1  # gap +0.1 at 16, -0.2 at 64: 1/3 of the way
  assert td.crossover(rows) == pytest.approx(2 ** (4 + 2 / 3))
  assert td.crossover(rows[:1] + rows[3:]) is None


def test_figures_draw_curves_and_the_transition():
  from icl import figures
  c = {"err": [1.0, 0.5, 0.1], "se": [0.1, 0.05, 0.01], "mean": 0.5, "mean_se": 0.01}
  curves = {"fresh": {"model": c, "least_squares": c, "dist/least_squares": c},
            "pool": {"model": c, "dmmse": c}, "pool_size": 4}
  fig = figures.error_vs_examples(curves, "t")
  assert len(fig.axes) == 2 and len(fig.axes[0].lines) >= 2  # dist/ curves not drawn
  rows = [{"M": m, "fresh/model": 1.0 / (m or 64), "fresh/model/se": 0.01,
           "pool/dist/dmmse": 0.1, "pool/dist/ridge": 0.2} for m in (4, 16, 0)]
  fig = figures.task_diversity(rows)
  labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
  assert labels == ["4", "16", "∞"]
