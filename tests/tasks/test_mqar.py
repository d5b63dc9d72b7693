"""MQAR generator: exact structure, determinism, gap distribution."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from icl.tasks.mqar import MQARTask

TASK = MQARTask(vocab_size=64, seq_len=48, num_pairs=6)
# One compiled sampler for the tests below (compiles dominate the test time).
SAMPLE = jax.jit(lambda key, step: TASK.sample(key, 64, step=step))


def test_structure():
  batch = jax.device_get(SAMPLE(jax.random.key(0), 0))
  tokens, targets, mask = batch["tokens"], batch["targets"], batch["loss_mask"]
  assert tokens.shape == targets.shape == mask.shape == (64, 48)
  assert tokens.dtype == targets.dtype == np.int32 and mask.dtype == np.float32
  k, half = 6, 32
  for row in range(64):
    keys, values = tokens[row, 0:2 * k:2], tokens[row, 1:2 * k:2]
    assert len(set(keys)) == k and len(set(values)) == k
    assert np.all((keys >= 1) & (keys < half)) and np.all((values >= half) & (values < 64))
    pairs = dict(zip(keys, values))
    query_pos = np.flatnonzero(mask[row])
    assert len(query_pos) == k
    assert np.all(query_pos >= 2 * k) and np.all((query_pos - 2 * k) % 2 == 0)
    assert sorted(tokens[row, query_pos]) == sorted(keys)  # every key queried once
    for pos in query_pos:
      assert targets[row, pos] == pairs[tokens[row, pos]]
    filler = np.ones(48, bool)
    filler[:2 * k] = False
    filler[query_pos] = False
    assert np.all(tokens[row, filler] == 0) and np.all(targets[row, mask[row] == 0] == 0)


def test_random_filler_keeps_queries():
  task = MQARTask(vocab_size=64, seq_len=48, num_pairs=6, random_filler=True)
  batch = jax.jit(lambda key: task.sample(key, 64))(jax.random.key(1))
  plain = SAMPLE(jax.random.key(1), 0)
  keep = (plain["tokens"] != 0)
  np.testing.assert_array_equal(batch["tokens"][keep], plain["tokens"][keep])
  np.testing.assert_array_equal(batch["targets"], plain["targets"])
  assert jnp.mean(batch["tokens"] != 0) > 0.9


def test_deterministic_per_key_and_jittable():
  a = SAMPLE(jax.random.key(3), jnp.int32(0))
  b = SAMPLE(jax.random.key(3), jnp.int32(7))
  c = SAMPLE(jax.random.key(4), jnp.int32(0))
  for name in a:
    np.testing.assert_array_equal(a[name], b[name])
  assert not np.array_equal(a["tokens"], c["tokens"])


def test_gap_distribution_power_law():
  """With K = 1 the single gap has P(g) ∝ (g+1)^(a-1); check to 5 standard errors."""
  task = MQARTask(vocab_size=16, seq_len=24, num_pairs=1, power_a=0.01)
  n = 20_000
  batch = jax.jit(lambda key: task.sample(key, n))(jax.random.key(0))
  gaps = (np.argmax(np.asarray(batch["loss_mask"]), axis=1) - 2) // 2
  freq = np.bincount(gaps, minlength=task.num_slots) / n
  g = np.arange(task.num_slots)
  p = (g + 1.0) ** (0.01 - 1)
  p /= p.sum()
  np.testing.assert_array_less(np.abs(freq - p), 5 * np.sqrt(p * (1 - p) / n) + 1e-9)


def test_metrics_perfect_prediction():
  batch = SAMPLE(jax.random.key(0), 0)
  logits = 20.0 * jax.nn.one_hot(batch["targets"], 64)
  m = jax.jit(TASK.metrics)(logits, batch)
  assert m["acc"] == 1.0 and m["acc_seq"] == 1.0 and m["loss"] < 1e-6


def test_metrics_count_wrong_queries_and_sequences():
  """acc is the share of right query positions; acc_seq the share of sequences with
  all K = 6 queries right. Wrong answers are placed at query positions (and, where
  they must not count, at filler positions) with known expected values."""
  batch = jax.device_get(SAMPLE(jax.random.key(0), 0))
  mask, targets = np.asarray(batch["loss_mask"]), np.asarray(batch["targets"])
  query = [np.flatnonzero(row) for row in mask]  # K positions per sequence
  metrics = jax.jit(TASK.metrics)

  def scored(wrong):
    """Metrics of one-hot predictions that are wrong exactly at `wrong` (row, pos)."""
    pred = targets.copy()
    for row, pos in wrong:
      pred[row, pos] = (targets[row, pos] + 1) % 64
    m = metrics(20.0 * jax.nn.one_hot(pred, 64), batch)
    return float(m["acc"]), float(m["acc_seq"])

  n = 64 * 6
  # One wrong query in rows 0..9, and two more in row 0: 12 wrong, 10 sequences.
  some = [(r, query[r][0]) for r in range(10)] + [(0, query[0][1]), (0, query[0][5])]
  acc, acc_seq = scored(some)
  assert acc == pytest.approx(1 - 12 / n) and acc_seq == pytest.approx(1 - 10 / 64)
  # Every query of row 3 wrong: 6 wrong, 1 sequence.
  acc, acc_seq = scored([(3, pos) for pos in query[3]])
  assert acc == pytest.approx(1 - 6 / n) and acc_seq == pytest.approx(1 - 1 / 64)
  # The last query of every row wrong: no sequence is all right.
  acc, acc_seq = scored([(r, query[r][-1]) for r in range(64)])
  assert acc == pytest.approx(5 / 6) and acc_seq == 0.0
  # Every query wrong.
  assert scored([(r, pos) for r in range(64) for pos in query[r]]) == (0.0, 0.0)
  # Wrong answers at filler (unscored) positions change nothing.
  filler = [(r, pos) for r in range(64) for pos in np.flatnonzero(mask[r] == 0)[:3]]
  assert scored(filler) == (1.0, 1.0)


def test_rejects_too_many_pairs():
  with pytest.raises(ValueError, match="query slots"):
    MQARTask(vocab_size=64, seq_len=16, num_pairs=5)
