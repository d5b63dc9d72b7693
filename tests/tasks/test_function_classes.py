"""Garg et al.'s function classes and Raventós' task pools (icl/tasks/{function_class,
linear, noisy_linear, sparse_linear, relu_network, decision_tree}.py): the curriculum,
the samplers' exact structure and moments, pools, out-of-distribution prompts.
See docs/deep_icl.md."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from icl import tasks
from icl.tasks import function_class
from theory import baselines


def _key(seed=0):
  return jax.random.key(seed)


def test_registered():
  for name in ("linear", "noisy_linear", "sparse_linear", "relu_network", "decision_tree"):
    assert issubclass(tasks.TASKS[name], function_class.FunctionClassTask)


@pytest.mark.parametrize("name,end_points", [("linear", 41), ("sparse_linear", 41),
                                             ("relu_network", 101),
                                             ("decision_tree", 101)])
def test_curriculum_is_gargs_closed_form(name, end_points):
  task = tasks.TASKS[name](dim=20, context_len=end_points, curriculum=True)
  inc = 2 if end_points == 41 else 5
  start = 11 if end_points == 41 else 26
  for t, want in [(0, (5, start)), (1999, (5, start)), (2000, (6, start + inc)),
                  (4000, (7, start + 2 * inc)), (30_000, (20, end_points)),
                  (10 ** 6, (20, end_points))]:
    got = tuple(int(v) for v in task.schedule(jnp.asarray(t)))
    assert got == want, (t, got)
  assert task.schedule(None) == (20, end_points)


def test_curriculum_batch_zeroes_coordinates_and_masks_positions():
  task = tasks.TASKS["sparse_linear"](dim=20, context_len=41, curriculum=True)
  b = jax.jit(lambda k, t: task.sample(k, 64, step=t))(_key(), jnp.asarray(2000))
  assert np.all(np.asarray(b["x"])[..., 6:] == 0) and np.all(np.asarray(b["x"])[..., :6] != 0)
  assert np.all(np.asarray(b["mask"]).sum(-1) == 13)
  w = np.asarray(b["params"]["w"])
  assert np.all((w != 0).sum(-1) == 3) and np.all(w[:, 6:] == 0)  # support in the valid dims
  full = task.sample(_key(), 8, step=jnp.asarray(2000), full_size=True)
  assert np.all(np.asarray(full["mask"]) == 1)
  # a pure function of (key, step): a resumed run draws the same batch
  again = task.sample(_key(), 64, step=jnp.asarray(2000))
  np.testing.assert_array_equal(again["x"], b["x"])


def _second_moment(task, n=8192):
  b = task.sample(_key(1), n, full_size=True)
  y2 = np.asarray(jnp.square(b["y"]), np.float64)
  return y2.mean(), y2.std() / np.sqrt(y2.size / 4), b  # positions share f: / 4 margin


@pytest.mark.parametrize("name,kw", [("linear", {}), ("sparse_linear", {}),
                                     ("relu_network", {}), ("decision_tree", {}),
                                     ("noisy_linear", {"dim": 8})])
def test_normaliser_is_the_second_moment_of_y(name, kw):
  task = tasks.TASKS[name](context_len=16, **kw)
  mean, se, _ = _second_moment(task)
  assert abs(mean - task.trivial_loss()) < 4 * se, (mean, task.trivial_loss())


def test_decision_tree_matches_a_numpy_walk():
  task = tasks.TASKS["decision_tree"](dim=6, context_len=12, depth=3)
  b = task.sample(_key(2), 16)
  x, y = np.asarray(b["x"]), np.asarray(b["y"])
  coord, value = np.asarray(b["params"]["coord"]), np.asarray(b["params"]["value"])
  for i in range(16):
    for k in range(12):
      node = 0
      for _ in range(3):
        node = 2 * node + 1 + int(x[i, k, coord[i, node]] > 0)
      assert y[i, k] == value[i, node]
  assert coord.min() >= 0 and coord.max() <= 5 and len(np.unique(coord)) == 6


def test_relu_network_matches_formula():
  task = tasks.TASKS["relu_network"](dim=4, context_len=5, hidden=7)
  b = task.sample(_key(3), 3)
  x, p = np.asarray(b["x"]), jax.tree.map(np.asarray, b["params"])
  ref = np.sqrt(2 / 7) * np.einsum("bkr,br->bk", np.maximum(x @ p["w1"], 0), p["w2"])
  np.testing.assert_allclose(b["y"], ref, rtol=1e-5, atol=1e-6)


def test_pool_is_fixed_and_fresh_tasks_are_not_in_it():
  task = tasks.TASKS["noisy_linear"](pool_size=4, pool_seed=7)
  pool = np.asarray(task.pool()["w"])
  np.testing.assert_array_equal(pool, np.asarray(task.pool()["w"]))
  b = task.sample(_key(4), 256, step=jnp.asarray(5))
  w = np.asarray(b["params"]["w"])
  dist = np.abs(w[:, None] - pool[None]).max(-1).min(-1)
  assert np.all(dist == 0) and len(np.unique(w[:, 0])) == 4  # every task used
  fresh = np.asarray(task.sample(_key(4), 256, pool=False)["params"]["w"])
  assert np.all(np.abs(fresh[:, None] - pool[None]).max(-1).min(-1) > 0)
  other = tasks.TASKS["noisy_linear"](pool_size=4, pool_seed=8)
  assert not np.allclose(np.asarray(other.pool()["w"]), pool)


def test_single_task_pool_dmmse_is_the_noise_floor():
  """Raventós' M = 1: the dMMSE on pool prompts errs by the label noise alone."""
  task = tasks.TASKS["noisy_linear"](pool_size=1)
  b = task.sample(_key(5), 4000)
  pred = baselines.dmmse(b["x"], b["y"], task.pool()["w"], task.noise_var)
  e = np.asarray(jnp.square(pred - b["y"]).mean(-1)) / task.dim
  assert abs(e.mean() - 0.25 / 8) < 4 * e.std() / np.sqrt(4000)


def test_ood_prompts():
  task = tasks.TASKS["linear"](dim=8, context_len=6, ood_scale=3.0)
  base = task.sample(_key(6), 32)
  for ood in ("scale_x", "scale_w"):
    b = task.sample(_key(6), 32, ood=ood)
    np.testing.assert_allclose(b["y"], 3.0 * np.asarray(base["y"]), rtol=1e-5, atol=1e-5)
  b = task.sample(_key(6), 32, ood="orthant")
  s = np.sign(np.asarray(b["x"])[:, :-1])
  assert np.all(s == s[:, :1])  # the examples share one orthant
  b = task.sample(_key(6), 32, ood="query_example")
  x = np.asarray(b["x"])
  assert all(np.any(np.all(x[i, :-1] == x[i, -1], -1)) for i in range(32))
  b = task.sample(_key(6), 32, ood="orthogonal_query")
  x = np.asarray(b["x"])
  assert np.abs(np.einsum("bkd,bd->bk", x[:, :-1], x[:, -1])).max() < 1e-4
  for ood in ("subspace", "skewed"):  # E|x|^2 = d kept
    x = np.asarray(task.sample(_key(6), 4096, ood=ood)["x"])
    assert abs(np.square(x).sum(-1).mean() / 8 - 1) < 0.05, ood
  x = np.asarray(task.sample(_key(6), 64, ood="subspace")["x"])
  assert np.all(np.linalg.matrix_rank(x) == 4)
  with pytest.raises(ValueError, match="ood="):
    task.sample(_key(6), 2, ood="nope")


def test_loss_metrics_and_per_prompt_error_agree():
  task = tasks.TASKS["linear"](dim=5, context_len=11, curriculum=True, points_start=7)
  b = task.sample(_key(7), 64, step=jnp.asarray(0))
  pred = jnp.zeros_like(b["y"])
  loss = task.loss(pred, b)
  np.testing.assert_allclose(task.per_prompt_error(pred, b).mean(), loss, rtol=1e-6)
  y2 = np.asarray(b["y"])[:, :7] ** 2
  np.testing.assert_allclose(loss, y2.mean(), rtol=1e-5)
  m = task.metrics(pred, b)
  assert len(m) == 11
  np.testing.assert_allclose(m["err_3"], np.mean(np.asarray(b["y"])[:, 3] ** 2) / 5, rtol=1e-5)
