"""Bigram-backcopy: the table, the back-copy rule, transition frequencies, oracle."""

import jax
import jax.numpy as jnp
import numpy as np

from icl.tasks.backcopy import BOS, BackcopyTask

TASK = BackcopyTask(seq_len=64)
SAMPLE = jax.jit(lambda key: TASK.sample(key, 2048))  # one compile for every test
BATCH = jax.device_get(SAMPLE(jax.random.key(0)))


def test_table():
  task = BackcopyTask(vocab_size=64, num_triggers=3, table_seed=1)
  table = task.table
  np.testing.assert_allclose(table.sum(1), 1.0, atol=1e-12)
  assert np.all(table[:, BOS] == 0)
  assert np.all(table[BOS, task.triggers] == 0)
  np.testing.assert_array_equal(np.flatnonzero(task.triggers), [1, 2, 3])
  assert np.argsort(-task.marginal)[:3].tolist() == [1, 2, 3]
  np.testing.assert_array_equal(table, BackcopyTask(table_seed=1).table)
  assert not np.array_equal(table, BackcopyTask(table_seed=2).table)


def test_sequences_follow_the_rule():
  task, batch = TASK, BATCH
  tokens, targets = batch["tokens"], batch["targets"]
  trig = task.triggers
  assert np.all(tokens[:, 0] == BOS)
  assert not trig[tokens[:, 1]].any() and np.all(tokens[:, 1] != BOS)
  np.testing.assert_array_equal(tokens[:, 1:], targets[:, :-1])
  assert np.all(targets != BOS)
  is_trig = trig[tokens]
  np.testing.assert_array_equal(batch["is_trigger"], is_trig)
  prev = np.concatenate([np.full((len(tokens), 1), -1), tokens[:, :-1]], axis=1)
  np.testing.assert_array_equal(targets[is_trig], prev[is_trig])  # back-copy
  assert not trig[targets[is_trig]].any()  # never two triggers in a row
  # Bigram steps only take transitions of positive probability.
  assert np.all(task.table[tokens[~is_trig], targets[~is_trig]] > 0)
  assert 0.05 < is_trig.mean() < 0.6


def test_transition_frequencies():
  """From the most frequent non-trigger, successors follow P(·|s) to 5 standard errors."""
  task, batch = TASK, BATCH
  state = 4
  from_state = batch["tokens"] == state
  counts = np.bincount(batch["targets"][from_state], minlength=task.vocab_size)
  n = counts.sum()
  p = task.table[state]
  assert n > 2000
  np.testing.assert_array_less(np.abs(counts / n - p), 5 * np.sqrt(p * (1 - p) / n) + 1e-9)


def test_deterministic_per_key():
  again = SAMPLE(jax.random.key(0))
  for name in BATCH:
    np.testing.assert_array_equal(BATCH[name], again[name])
  assert not np.array_equal(BATCH["tokens"], SAMPLE(jax.random.key(1))["tokens"])


def test_oracle_reaches_the_floors():
  task = TASK
  batch = jax.tree.map(lambda x: jnp.asarray(x[:128]), BATCH)
  log_p = jnp.log(jnp.asarray(task.table, jnp.float32) + 1e-30)[batch["tokens"]]
  prev = jnp.concatenate([batch["tokens"][:, :1], batch["tokens"][:, :-1]], axis=1)
  copy = 50.0 * jax.nn.one_hot(prev, task.vocab_size)
  logits = jnp.where(batch["is_trigger"][..., None] > 0, copy, log_p)
  m = task.metrics(logits, batch)
  assert m["loss_trigger"] < 1e-6 and m["acc_trigger"] == 1.0
  # Empirical CE vs its expectation: ~8000 positions, per-position std < 1.5 nats.
  np.testing.assert_allclose(m["loss_bigram"], m["oracle_loss_bigram"], atol=5 * 1.5 / 90)
  np.testing.assert_allclose(m["acc_bigram"], m["oracle_acc_bigram"], atol=0.05)
  assert 1.0 < m["oracle_loss_bigram"] < np.log(63)
