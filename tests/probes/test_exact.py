"""Probes on hand-built weights and attention, with exact answers."""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs.regression import get_config
from icl import config_lib, records
from icl.probes import attention, interventions, recording, schedule, weights
from icl.train import core, recorder

D, H = 6, 2  # d = 5


def hand_weights(omega=(0.3, -0.2), mu=(2.0, -1.5)):
  w_kq = jnp.stack([w * jnp.eye(D) for w in omega])
  w_kq = w_kq.at[:, :, -1].set(7.0)  # the untrained query-label column is ignored
  w_kq = w_kq.at[:, -1, -1].set(7.0)
  w_ov = jnp.zeros((H, D)).at[:, -1].set(jnp.array(mu))
  return w_kq, w_ov


def test_pattern_probes_of_exact_patterns():
  w_kq, w_ov = hand_weights()
  p = weights.pattern_probes(w_kq, w_ov, d=5, L=40, s2=0.1)
  np.testing.assert_allclose(p["omega"], [0.3, -0.2], rtol=1e-6)
  np.testing.assert_allclose(p["mu"], [2.0, -1.5])
  np.testing.assert_allclose(p["diag_ratio"], 1.0, rtol=1e-6)
  np.testing.assert_array_equal(p["homogeneity"], 0.0)
  np.testing.assert_array_equal(p["y_row_norm"], 0.0)
  np.testing.assert_allclose(p["last_ratio"], 1.0)
  np.testing.assert_array_equal(p["dummy"], 0.0)
  assert float(p["eta"]) == pytest.approx(0.3 * 2.0 + 0.2 * 1.5)
  assert float(p["mu_sum"]) == pytest.approx(0.5)
  assert float(p["mu_balance"]) == pytest.approx(0.5 / 3.5)


def test_pattern_probes_of_perturbed_weights():
  """Off-diagonal mass, unequal diagonals, a y-row and non-last OV entries, against
  an independent numpy computation; a head with diag ratio <= 0.7 is a dummy."""
  rng = np.random.default_rng(0)
  w_kq = rng.normal(size=(H, D, D))
  w_kq[0, :5, :5] = np.diag([1.0, 2.0, 3.0, 4.0, 5.0]) + 0.1 * rng.normal(size=(5, 5))
  w_ov = rng.normal(size=(H, D))
  p = weights.pattern_probes(jnp.asarray(w_kq), jnp.asarray(w_ov), d=5, L=40, s2=0.1)
  for h in range(H):
    a = w_kq[h, :5, :5]
    dg = np.diag(a)
    np.testing.assert_allclose(p["diag_ratio"][h], np.linalg.norm(dg) / np.linalg.norm(a),
                               rtol=1e-5)
    np.testing.assert_allclose(p["homogeneity"][h], dg.var() / dg.mean() ** 2, rtol=1e-4)
    np.testing.assert_allclose(p["y_row_norm"][h], np.linalg.norm(w_kq[h, 5, :5]), rtol=1e-5)
    np.testing.assert_allclose(p["last_ratio"][h],
                               abs(w_ov[h, -1]) / np.linalg.norm(w_ov[h]), rtol=1e-5)
  assert p["dummy"].tolist() == [0.0, 1.0]  # head 1 is a random matrix: ratio ~ 0.4


def test_spectral_norm_is_the_matrix_2_norm():
  w = np.random.default_rng(1).normal(size=(3, D, D)).astype(np.float32)
  np.testing.assert_allclose(weights.spectral_norm(jnp.asarray(w)),
                             [np.linalg.norm(m, 2) for m in w], rtol=1e-5)


def test_uniform_attention_has_entropy_log_L():
  for length in (1, 7, 40):
    a = jnp.full((3, 2, 5, length), 1.0 / length)
    np.testing.assert_allclose(attention.entropy(a), math.log(length), rtol=1e-6, atol=1e-7)


def test_attention_on_the_first_token_is_a_full_sink():
  a = jnp.zeros((4, 3, 6, 6)).at[..., 0].set(1.0)
  np.testing.assert_array_equal(attention.sink_score(a, 0), 1.0)
  np.testing.assert_array_equal(attention.entropy(a), 0.0)
  assert float(attention.sink_metric([attention.sink_score(a)])) == 100.0
  uniform = jnp.full((4, 3, 6, 6), 1.0 / 6)
  assert float(attention.sink_metric([attention.sink_score(uniform)])) == 0.0


def test_sink_score_averages_queries_at_or_after_the_key():
  """Causal attention [Lq = Lk = 3]: alpha_1 averages queries 1 and 2 only."""
  a = jnp.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.2, 0.2, 0.6]])[None, None]
  np.testing.assert_allclose(attention.sink_score(a, 0), [(1.0 + 0.5 + 0.2) / 3])
  np.testing.assert_allclose(attention.sink_score(a, 1), [(0.5 + 0.2) / 2])


def test_unnormalised_attention_is_renormalised():
  a = jnp.zeros((1, 1, 2, 4)).at[..., 0].set(3.0).at[..., 1].set(1.0)  # rows sum to 4
  np.testing.assert_allclose(attention.sink_score(a, 0), [0.75])
  rows = jnp.zeros((1, 1, 1, 4))  # a query with no keys: no probability, no NaN
  assert float(attention.entropy(rows)[0]) == 0.0


def test_group_sink_probes_split_queries_by_group():
  """Hand-built causal scores over 4 keys: queries 1 and 3 are in the group."""
  logits = jnp.array([[0.0, -jnp.inf, -jnp.inf, -jnp.inf],
                      [2.0, 0.0, -jnp.inf, -jnp.inf],
                      [5.0, 1.0, 3.0, -jnp.inf],
                      [4.0, 1.0, 2.0, 3.0]])[None, None]  # [B=1, H=1, 4, 4]
  weights_ = jax.nn.softmax(logits, axis=-1)
  mask = jnp.array([[1.0, 1.0, 0.0, 1.0]])  # query 0 (the sink itself) is left out
  mass, gap = attention.group_sink_probes(weights_, logits, mask)
  expected_mass = (weights_[0, 0, 1, 0] + weights_[0, 0, 3, 0]) / 2
  np.testing.assert_allclose(mass, [expected_mass], rtol=1e-6)
  np.testing.assert_allclose(gap, [((2.0 - 0.0) + (4.0 - 2.0)) / 2], rtol=1e-6)
  # Unnormalised rows (a switched-off sigmoid head) give their raw mass, not a share.
  off = jnp.full((1, 1, 4, 4), 1e-3) * jnp.tril(jnp.ones((4, 4)))
  mass, _ = attention.group_sink_probes(off, logits, mask)
  np.testing.assert_allclose(mass, [1e-3], rtol=1e-6)


def test_captured_layers_and_probes_of_the_one_layer_model():
  """Probes read nnx.capture output: layer l0, per-head shapes, and they agree with
  the model's own scores (uniform attention when Q = 0)."""
  exp = core.Experiment.from_config(get_config("tiny"))
  params = exp.init_params(jax.random.key(0))
  params = interventions.uniform_attention(params, 1)
  batch = exp.task.sample(jax.random.key(1), 8)
  _, w, lg, v = exp.apply(params, batch, *attention.CAPTURES)
  assert list(attention.captured_layers(w)) == ["l0"]
  out = attention.attention_probes(w, lg, v)
  assert out["attn_entropy/l0"].shape == (2,)
  np.testing.assert_allclose(out["attn_entropy/l0"][1], math.log(40), rtol=1e-5)
  assert float(out["max_logit/l0"][1]) == 0.0
  assert out["value_norm_sink/l0"].shape == (2,)


def test_flat_keys_are_stable():
  probes = {"omega": np.zeros((3, 2)), "sink/l0": np.ones((3, 2)), "eta": np.ones(3)}
  assert sorted(records.probe_fields(probes)) == [
      "probe/eta", "probe/omega/h0", "probe/omega/h1", "probe/sink/l0h0",
      "probe/sink/l0h1"]
  record = records.summarize_probes(probes)
  assert record["probe/eta"] == 1.0 and record["probe/eta/se"] == 0.0
  assert record["probe/eta/seeds"] == [1.0, 1.0, 1.0]


def test_snapshot_steps_and_probe_intervals():
  steps = schedule.snapshot_steps(10_000, 24)
  assert steps[0] == 0 and steps[-1] == 10_000 and len(steps) <= 24
  assert all(b > a for a, b in zip(steps, steps[1:]))
  assert schedule.probe_interval(0, 500, 1000) == 0
  assert schedule.probe_interval(500, 500, 1000) == 500
  assert schedule.probe_interval(1000, 500, 100) == 100
  assert schedule.probe_interval(0, 500, 0) == 0


def test_snapshot_slots_hold_the_weights_after_their_steps():
  """A 6-step chunk with snapshots after steps 2 and 5 (and an unused slot) holds
  the merged weights of the states after 2 and 5 plain steps, and zeros."""
  exp = core.Experiment.from_config(get_config("tiny"))
  init_keys, data_keys = core.seed_keys(exp.spec)
  states = core.init_states(exp, init_keys)
  copy = lambda tree: jax.tree.map(jnp.copy, tree)  # train_chunk donates its states
  _, m = core.train_chunk(exp, copy(states), data_keys, 6,
                          snap_offsets=np.array([2, 5, -1], np.int32))
  after2, _ = core.train_chunk(exp, copy(states), data_keys, 2)
  after5, _ = core.train_chunk(exp, copy(after2), data_keys, 3)
  ctx = exp.probe_context()
  for slot, want in enumerate([after2, after5]):
    w = recording.snapshot_states(ctx, want["params"])
    for name in ("W_KQ", "W_OV"):
      np.testing.assert_allclose(m["snapshot"][name][:, slot], w[name], rtol=1e-5,
                                 atol=1e-7)
  assert not np.any(m["snapshot"]["W_KQ"][:, 2])


def test_every_chunk_of_a_run_gets_snapshot_offsets_of_one_shape():
  """One program per run: the default 20k-step cadence (chunks of 500, 24 log-spaced
  snapshots, most of them in the first chunk) pads every chunk's offsets to the
  same number of slots, and together they name every snapshot step."""
  assert schedule.max_per_window([0, 1, 2, 500, 501, 1000], 500) == 3
  assert schedule.max_per_window([0], 500) == 0
  spec = config_lib.resolve(get_config())
  spec = dataclasses.replace(spec, train=dataclasses.replace(
      spec.train, num_steps=20_000, log_every=500))
  rec = recorder.Recorder(None, spec, "")
  args = [rec.chunk_args(step, 500) for step in range(0, 20_000, 500)]
  shapes = {a["snap_offsets"].shape for a in args}
  assert shapes == {(rec.slots,)} and rec.slots > 1, shapes
  named = {step + int(o) for step, a in zip(range(0, 20_000, 500), args)
           for o in a["snap_offsets"] if o > 0}
  assert named == set(schedule.snapshot_steps(20_000, 24)) - {0}


def test_ablating_a_head_that_writes_nothing_changes_nothing():
  exp = core.Experiment.from_config(get_config("tiny"))
  params = exp.init_params(jax.random.key(0))
  params = interventions.scale_head(params, 1, 0.0)  # head 1 now contributes 0
  r = interventions.head_loss_changes(exp, params, jax.random.key(2), "ablate", 1024)
  assert float(r["rel_change"][1]) == 0.0 and float(r["rel_change"][0]) != 0.0


def test_subset_attention_reads_the_last_query_row():
  """Hand-built attention over T = 5 keys, subset {0, 2}: a uniform last row gives
  2/5, a row with 0.3 and 0.5 on the subset gives 0.8; earlier rows are ignored."""
  a = jnp.full((2, 2, 5, 5), 0.2)
  a = a.at[:, 1, -1].set(jnp.array([0.3, 0.0, 0.5, 0.0, 0.2]))
  a = a.at[:, :, 0].set(jnp.array([1.0, 0.0, 0.0, 0.0, 0.0]))  # query 0 sees only key 0
  np.testing.assert_allclose(attention.subset_attention(a, np.array([0, 2])), [0.4, 0.8],
                             rtol=1e-6)



@pytest.mark.parametrize("name,variant,has,lacks", [
    ("parity", "incontext", "omega", "reduced_loss"),  # regression format, not regression
    ("parity", "sparse", "subset_attn/l0", "omega"),
    ("parity", "running_multi", "attn_entropy/l1", "omega"),
    ("mqar", "tiny", "spectral_norm/l1", "omega"),
    ("backcopy", "tiny", "sink_nontrigger/l0", "omega"),
])
def test_every_task_family_computes_its_probes(name, variant, has, lacks):
  """Each (task, model) pair's probes compute at init and are finite, with the keys that
  family has and without those it lacks (in-context parity once crashed here: its task
  has no noise_var for the regression-only reduced loss)."""
  import importlib
  config = importlib.import_module(f"configs.{name}").get_config(variant)
  config.probes.num_prompts = 8
  exp = core.Experiment.from_config(config)
  out = jax.jit(lambda p: recording.compute(exp.probe_context(), p))(exp.init_params(jax.random.key(0)))
  assert has in out and lacks not in out, sorted(out)
  assert all(np.all(np.isfinite(np.asarray(v))) for v in out.values()), out
