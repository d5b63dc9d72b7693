"""Parity generators: labels against brute-force products, splits, curricula."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from icl.tasks.parity import InContextParityTask, RunningParityTask, SparseParityTask


def test_sparse_parity_labels():
  task = SparseParityTask(num_bits=50, subset_size=3, subset_seed=7)
  assert len(set(task.subset)) == 3
  np.testing.assert_array_equal(task.subset, SparseParityTask(subset_seed=7).subset)
  batch = jax.device_get(jax.jit(lambda key: task.sample(key, 256))(jax.random.key(0)))
  tokens, targets, mask = batch["tokens"], batch["targets"], batch["loss_mask"]
  assert tokens.shape == (256, 51) and np.all(tokens[:, -1] == 2)
  bits = tokens[:, :50]
  np.testing.assert_array_equal(targets[:, -1], bits[:, task.subset].sum(1) % 2)
  np.testing.assert_array_equal(batch["y"], np.prod(1 - 2 * bits[:, task.subset], axis=1))
  np.testing.assert_array_equal(mask.sum(1), 1.0)
  assert mask[:, -1].all()
  assert 0.4 < targets[:, -1].mean() < 0.6


def test_incontext_parity_labels_and_split():
  task = InContextParityTask(dim=10, subset_size=2, context_len=20, heldout_frac=0.5)
  assert len(task.subsets) == 45 and task.heldout.sum() == 22
  sample = jax.jit(lambda key, split: task.sample(key, 512, split=split), static_argnums=1)
  for split, heldout in (("train", 0.0), ("heldout", 1.0)):
    batch = jax.device_get(sample(jax.random.key(0), split))
    assert np.all(batch["is_heldout"] == heldout)
    assert np.all(task.heldout[batch["subset_id"]] == bool(heldout))
    subsets = task.subsets[batch["subset_id"]]  # [B, k]
    x_all = np.concatenate([batch["x"], batch["xq"][:, None]], axis=1)
    y_all = np.concatenate([batch["y"], batch["yq"][:, None]], axis=1)
    picked = np.take_along_axis(x_all, subsets[:, None, :], axis=2)
    np.testing.assert_array_equal(y_all, picked.prod(-1))
    assert set(np.unique(x_all)) == {-1.0, 1.0}
  batch = sample(jax.random.key(0), "train")
  assert len(np.unique(batch["subset_id"])) == 23
  again = sample(jax.random.key(0), "train")  # deterministic per key
  for name in batch:
    np.testing.assert_array_equal(batch[name], again[name])


def test_odd_linear_readout_is_exactly_chance_on_even_parity():
  """sign(w·x) is odd, a k=2 parity is even: over all of {±1}^n they agree half the time."""
  n = 6
  task = InContextParityTask(dim=n, subset_size=2)
  xq = np.array(list(itertools.product([-1.0, 1.0], repeat=n)))
  yq = xq[:, 1] * xq[:, 4]
  w = np.random.default_rng(0).normal(size=n)
  batch = {"xq": xq, "yq": jnp.asarray(yq), "is_heldout": jnp.zeros(len(xq))}
  metrics = task.metrics(jnp.asarray(xq @ w), batch)
  assert metrics["acc"] == 0.5 and metrics["acc_train_fn"] == 0.5
  assert jnp.isnan(metrics["acc_heldout_fn"])
  # k = 1 (dictator) is read out exactly by a linear function.
  assert task.metrics(jnp.asarray(xq[:, 3]), {**batch, "yq": jnp.asarray(xq[:, 3])})["acc"] == 1.0


def _brute_running_parity(bits, n):
  out = np.zeros_like(bits)
  for t in range(n - 1, bits.shape[1]):
    out[:, t] = bits[:, t - n + 1:t + 1].sum(1) % 2
  return out


def test_running_parity_single_curriculum():
  task = RunningParityTask(seq_len=32, max_n=5, curriculum="single", n_start=2,
                           steps_per_stage=100)
  sample = jax.jit(lambda key, step: task.sample(key, 16, step=step))
  for step, n in ((0, 2), (99, 2), (100, 3), (250, 4), (10_000, 5)):
    batch = jax.device_get(sample(jax.random.key(step), jnp.int32(step)))
    bits = batch["tokens"]
    assert np.all(batch["parity_n"] == n)
    valid = np.arange(32) >= n - 1
    np.testing.assert_array_equal(batch["loss_mask"], np.broadcast_to(valid, (16, 32)))
    np.testing.assert_array_equal(batch["targets"][:, valid],
                                  _brute_running_parity(bits, n)[:, valid])


def test_running_parity_multi_and_fixed():
  task = RunningParityTask(seq_len=20, max_n=4, curriculum="multi")
  assert task.output_heads == 4
  batch = jax.device_get(jax.jit(lambda key: task.sample(key, 8))(jax.random.key(0)))
  assert batch["targets"].shape == (8, 20, 4)
  for j in range(4):
    valid = np.arange(20) >= j
    np.testing.assert_array_equal(batch["loss_mask"][0, :, j], valid)
    np.testing.assert_array_equal(batch["targets"][:, valid, j],
                                  _brute_running_parity(batch["tokens"], j + 1)[:, valid])
  logits = 10.0 * (2 * jax.nn.one_hot(batch["targets"], 2) - 1)
  metrics = jax.jit(task.metrics)(logits, batch)
  assert all(metrics[f"acc_n{j}"] == 1.0 for j in range(1, 5))
  fixed = RunningParityTask(seq_len=20, max_n=4, curriculum="fixed")
  assert fixed.current_n(123) == 4 and task.current_n(0) == 4


@pytest.mark.parametrize("task", [
    SparseParityTask(num_bits=12, subset_size=3),
    InContextParityTask(dim=6, subset_size=2, context_len=8),
    RunningParityTask(seq_len=12, max_n=3, curriculum="multi"),
], ids=["sparse", "incontext", "running"])
def test_deterministic_per_key(task):
  """The same key gives the same batch (every field); another key another batch."""
  sample = jax.jit(lambda key: task.sample(key, 32, step=jnp.int32(0)))
  a, b, c = (jax.device_get(sample(jax.random.key(k))) for k in (5, 5, 6))
  assert set(a) == set(b)
  for name in a:
    np.testing.assert_array_equal(a[name], b[name])
  inputs = "x" if "x" in a else "tokens"  # in-context parity is in the regression format
  assert not np.array_equal(a[inputs], c[inputs])
