"""The direction of each phenomenon of docs/tasks.md, at tiny CPU sizes.

Every test trains in-process with `train_and_evaluate` (same seed and steps for the
runs it compares) and asserts the sign of the effect, and for MQAR, the instability
fixes and the state size also its size, over three seeds. Where the metric is an
average over prompts the margin is a multiple of its binomial standard error, and
over seeds a multiple of the seed standard error, so each assertion can fail.
Reproductions at larger sizes: WORKSPACE_NOTES.md, "Other tasks".
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import theory
from configs import backcopy, instability, mqar, parity
from configs.sweeps import mqar_pairs
from icl import evaluate, workdir as workdir_lib
from icl.models.intermediates import AttnLogits, AttnWeights
from icl.probes import attention as attention_probes
from icl.probes import weights as weight_probes
from icl.train import checkpoint, core, train_and_evaluate

Z = 4.0  # standard errors of margin: a false failure has probability < 1e-4


def _train(config, path) -> tuple[dict, list[dict]]:
  final = train_and_evaluate(config, str(path))
  return final, workdir_lib.read_metrics(str(path))


def _binomial_se(p: float, n: int) -> float:
  return math.sqrt(max(p * (1.0 - p), 1e-4) / n)


# With S = 3 seeds a seed mean over its standard error is Student-t with 2 degrees of
# freedom, whose one-sided 97.5% quantile is 4.30: assertions on seed means keep that
# many seed standard errors of margin (a 2.5% false failure if the seed values are
# normal; the 99% quantile, 6.96, is wider than the measured gaps allow with three
# seeds), on top of the Monte-Carlo (prompt) error where there is one.
NUM_SEEDS = 3
T_SEEDS = 4.30


def _seed_stats(records: list[dict], name: str) -> tuple[float, float, list[float]]:
  """The last record's seed mean, seed standard error and per-seed values of `name`
  (metrics.jsonl writes 'm', 'm/se', 'm/seeds' with several seeds)."""
  last = [r for r in records if f"{name}/seeds" in r][-1]
  return last[name], last[f"{name}/se"], last[f"{name}/seeds"]


def _margin(records: list[dict], name: str, num_scored: int) -> tuple[float, float]:
  """(seed mean, margin) of the accuracy-like eval metric `name`: T_SEEDS seed
  standard errors plus Z binomial standard errors of a mean over S x num_scored
  Bernoulli outcomes (the prompt noise, which the seed se also contains)."""
  mean, se, seeds = _seed_stats(records, name)
  assert len(seeds) == NUM_SEEDS, seeds
  return mean, T_SEEDS * se + Z * _binomial_se(mean, NUM_SEEDS * num_scored)


def _trained_params(config, workdir: str):
  """Seed 0's params from the run's last checkpoint, and the Experiment."""
  exp = core.Experiment.from_config(config)
  init_keys, _ = core.seed_keys(config)
  ckpt = checkpoint.Checkpointer(workdir)
  _, states = ckpt.restore(core.init_states(exp, init_keys))
  ckpt.close()
  return jax.tree.map(lambda a: a[0], states["params"]), exp


# --- MQAR -------------------------------------------------------------------------


def _mqar(attention: str):
  """configs/mqar.py:fast (V = 64, T = 32, K = 4, width 64, lr 3e-3) at 1600 steps,
  NUM_SEEDS seeds vmapped in one program. The softmax seeds pass the induction phase
  change at different steps: accuracy (seeds 0, 1, 2) 0.96 / 0.29 / 0.27 at step 400,
  1.0 / 1.0 / 0.29 at 800, 1.0 / 1.0 / 0.998 at 1200 and 1.0 for all at 1600 (one
  1600-step run, evaluated every 200). The cosine schedule follows num_steps, so a
  shorter run is not a prefix of it: runs of 800 (the config's length) and 1400 steps
  ended at 1.0 / 0.75 / 0.30 and 1.0 / 1.0 / 0.91. 'linear' is the row-normalised
  elu+1 linear attention of configs/mqar.py:linear_elu (Katharopoulos et al.):
  0.28-0.31 in every seed from step 200 to 1600. Identity-feature linear attention is
  no control at this size: a 1400-step run ended at 0.29 / 0.48 / 1.0 (presumably
  because at T = 32 <= width 64 the lab notes' rank bound on a learned
  previous-token shift does not bind)."""
  c = mqar.get_config("fast")
  if attention == "linear":
    c.model.attention = "linear"
    c.model.feature_map = "elu1"
    c.model.linear_normalizer = "sum"
  else:
    c.model.attention = attention
  c.train.num_seeds = NUM_SEEDS
  c.train.num_steps = c.train.eval_every = c.train.ckpt_every = 1_600
  c.train.log_every = 200
  return c


def test_mqar_softmax_beats_linear_attention(tmp_path):
  """Sizes of the seed means, each with T_SEEDS seed se + Z binomial se of margin:
  softmax > 0.9 (solved: measured 1.0 in every seed) and linear < 0.45 (guessing is
  1/K = 0.25; measured 0.30 +- 0.004 over seeds)."""
  config = _mqar("softmax")
  _, soft = _train(config, tmp_path / "softmax")
  _, lin = _train(_mqar("linear"), tmp_path / "linear")
  n = config.eval.num_prompts * config.task.num_pairs  # query positions scored per seed
  soft_acc, soft_margin = _margin(soft, "eval_acc", n)
  lin_acc, lin_margin = _margin(lin, "eval_acc", n)
  print("mqar acc over seeds, softmax:", _seed_stats(soft, "eval_acc"),
        "linear:", _seed_stats(lin, "eval_acc"))
  assert soft_acc - soft_margin > 0.9, (soft_acc, soft_margin)
  assert lin_acc + lin_margin < 0.45, (lin_acc, lin_margin)


# --- instability --------------------------------------------------------------------


def _instability(variant: str):
  c = instability.get_config(variant)
  c.task.seq_len = 32
  c.model.d_model = 32
  c.train.lr = 3e-2
  c.train.num_steps = 150
  c.train.warmup_steps = 15
  c.train.log_every = c.train.eval_every = c.train.ckpt_every = 150
  c.train.num_seeds = NUM_SEEDS
  c.probes.every = 0  # measured from the checkpoint (_attention_extremes)
  c.eval.num_prompts = 64
  return c


def _attention_extremes(workdir: str, num_prompts: int = 64) -> dict:
  """From the trained checkpoint, per seed, on the same fresh prompts: the largest
  pre-normalisation attention score over layers and heads (probe/max_logit of
  docs/probes.md) and the smallest per-head attention entropy (probe/attn_entropy);
  {name: [per-seed values]}."""
  config, exp, states, _ = evaluate.load_run(workdir)
  batch = exp.task.sample(jax.random.key(123), num_prompts)
  layers = attention_probes.captured_layers
  out = {"max_logit": [], "min_entropy": []}
  for seed in range(config.train.num_seeds):
    params = jax.tree.map(lambda a, seed=seed: a[seed], states["params"])
    _, weights, logits = exp.apply(params, batch, AttnWeights, AttnLogits)
    out["max_logit"].append(max(float(attention_probes.max_logit(v).max())
                                for v in layers(logits).values()))
    out["min_entropy"].append(min(float(attention_probes.entropy(w).min())
                                  for w in layers(weights).values()))
  return out


def _trained_extremes(variant: str, path) -> dict:
  _train(_instability(variant), path)
  return _attention_extremes(str(path))


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory):
  """The run without a fix (shared by the two tests below)."""
  return _trained_extremes("none", tmp_path_factory.mktemp("instability") / "none")


def _assert_fix_bounds_the_logits(plain: dict, fix: dict):
  """Sizes, seed by seed over NUM_SEEDS seeds (prompts fixed). Measured seeds 0, 1, 2
  in pytest on the AMD EPYC machine / on the Intel Xeon one:

    plain:  max logit 167 / 134 / 211  | 161 / 128 / 231,
            smallest head entropy 0.15 / 0.16 / 0.10  | 0.11 / 0.16 / 0.10
    qk-norm:          7.8 / 9.5 / 14.5 | 7.5 / 9.7 / 15.7,  1.48 / 1.33 / 0.48 | 1.50 / 1.39 / 0.37
    σReparam:         8.5 / 18.3 / 41.5 | 8.5 / 17.9 / 40.1, 1.77 / 1.37 / 0.91 | 1.77 / 1.38 / 0.93

  At lr 3e-2 training is chaotic: the two CPUs' float rounding (their XLA:CPU
  code differs) gives seeds that differ by 10-20%, and the plain max logit spreads
  over 1.8x between seeds, so over 3 seeds the mean minus 4.3 (t, 2 df) seed
  standard errors fell to 43 on one machine while every seed was above 128. The
  assertions are therefore per seed, like the ratios below: in every seed the
  plain run's max logit is above 50 (a fresh-init head on unit-scale inputs has
  ~3) and its attention collapses, smallest entropy below 0.3 nats (uniform over
  the 32 keys of the last query: ln 32 = 3.5); a run without the growth fails in
  every seed. A fix is compared seed by seed with the plain run of the same seed
  and data: in every seed its max logit is below 1/3 of the plain one and its
  smallest entropy above 1.25x the plain one."""
  assert min(plain["max_logit"]) > 50.0, (plain, fix)
  assert max(plain["min_entropy"]) < 0.3, (plain, fix)
  # Seed by seed (same seed, same data): the ratios spread over an order of magnitude
  # between seeds (σReparam 0.05-0.22 after the transformer's custom-gradient kernels
  # changed the float order), so a mean +- t se over 3 seeds says less than the
  # per-seed signs: every seed must show the effect (a fix without effect, ratio ~1,
  # fails in every seed).
  logit_ratio = np.divide(fix["max_logit"], plain["max_logit"])
  entropy_ratio = np.divide(fix["min_entropy"], plain["min_entropy"])
  assert np.all(logit_ratio < 1 / 3), (logit_ratio, plain, fix)
  assert np.all(entropy_ratio > 1.25), (entropy_ratio, plain, fix)


@pytest.mark.xdist_group("instability")  # one worker: plain_run trains once
def test_qk_norm_bounds_the_attention_logits(plain_run, tmp_path):
  """At lr 3e-2 the plain run's largest attention logit ends far above the qk-norm
  run's and its attention collapses (_assert_fix_bounds_the_logits)."""
  qk = _trained_extremes("qk_norm", tmp_path / "qk_norm")
  print("none vs qk_norm:", plain_run, qk)
  _assert_fix_bounds_the_logits(plain_run, qk)


@pytest.mark.xdist_group("instability")  # one worker: plain_run trains once
def test_sigma_reparam_bounds_the_attention_logits(plain_run, tmp_path):
  """σReparam, same seeds and sizes (_assert_fix_bounds_the_logits)."""
  sigma = _trained_extremes("sigma_reparam", tmp_path / "sigma_reparam")
  print("none vs sigma_reparam:", plain_run, sigma)
  _assert_fix_bounds_the_logits(plain_run, sigma)


# --- bigram-backcopy ------------------------------------------------------------------


def _backcopy(variant: str):
  """Width 32, T = 32, 500 steps at lr 3e-3 (the config's embeddings, N(0, 1)): the
  BOS sink on non-trigger queries is at ~0.8 by step 250 and ~0.96 by step 500
  (WORKSPACE_NOTES.md, bigram-backcopy)."""
  c = backcopy.get_config(variant)
  c.task.seq_len = 32
  c.model.d_model = 32
  c.train.lr = 3e-3
  c.train.num_steps = 500
  c.train.warmup_steps = 30
  c.train.log_every = c.train.eval_every = c.train.ckpt_every = 250
  c.probes.every = 50
  c.probes.num_prompts = 128
  c.probes.snapshots = 0
  c.eval.num_prompts = 64
  return c


def _attention_stats(config, workdir: str, num_prompts: int = 128) -> dict:
  """From the trained checkpoint, on fresh prompts: the attention mass on BOS (raw
  weights, `group_sink_probes`) and the row-renormalised attention on the previous
  token, over trigger and over non-trigger queries i >= 1."""
  params, exp = _trained_params(config, workdir)
  batch = exp.task.sample(jax.random.key(123), num_prompts)
  _, weights, logits = exp.apply(params, batch, AttnWeights, AttnLogits)
  weights = next(iter(attention_probes.captured_layers(weights).values()))  # [B, H, T, T]
  logits = next(iter(attention_probes.captured_layers(logits).values()))
  stats = {"num_prompts": num_prompts}
  prev = jnp.diagonal(attention_probes.renormalise(weights).mean(axis=1), offset=-1,
                      axis1=1, axis2=2)  # A[i, i-1], i >= 1: [B, T-1]
  for group, mask in exp.task.query_groups(batch).items():
    bos, _ = attention_probes.group_sink_probes(weights, logits, mask)
    stats[f"bos_{group}"] = float(bos.mean())
    stats[f"prev_{group}"] = float(jnp.sum(prev * mask[:, 1:]) / jnp.sum(mask[:, 1:]))
  return stats


@pytest.fixture(scope="module")
def backcopy_softmax(tmp_path_factory):
  config = _backcopy("softmax")
  path = tmp_path_factory.mktemp("backcopy") / "softmax"
  final, records = _train(config, path)
  return config, final, _attention_stats(config, str(path)), records


@pytest.mark.xdist_group("backcopy")  # one worker: backcopy_softmax trains once
def test_backcopy_head_is_active_on_triggers_and_dormant_otherwise(backcopy_softmax):
  """After a trigger the head attends to the previous token (the back-copy); after
  other tokens it does not."""
  config, final, stats, _ = backcopy_softmax
  print("backcopy:", final, stats)
  assert final["acc_trigger"] > 0.9, final
  # Per-query values lie in [0, 1]; one effective sample per prompt is conservative.
  se = 0.5 / math.sqrt(stats["num_prompts"])
  assert stats["prev_trigger"] > 0.5, stats
  assert stats["prev_trigger"] - stats["prev_nontrigger"] > Z * se, stats


@pytest.mark.xdist_group("backcopy")  # one worker: backcopy_softmax trains once
def test_backcopy_dormant_head_sinks_on_bos_and_sigmoid_removes_it(backcopy_softmax,
                                                                   tmp_path):
  """Non-trigger queries put > 1/2 of their attention on BOS (measured 0.96); trigger
  queries do not. Sigmoid attention (no normalisation) switches those rows off
  instead: its raw attention on BOS is near 0 (measured 0.000)."""
  _, _, soft, _ = backcopy_softmax
  se = 0.5 / math.sqrt(soft["num_prompts"])
  print("softmax:", soft)
  assert soft["bos_nontrigger"] > 0.5 + Z * se, soft
  assert soft["bos_nontrigger"] - soft["bos_trigger"] > Z * se, soft
  sig_config = _backcopy("sigmoid")
  _train(sig_config, tmp_path / "sigmoid")
  sig = _attention_stats(sig_config, str(tmp_path / "sigmoid"))
  print("sigmoid:", sig)
  assert sig["bos_nontrigger"] < 0.1, sig
  assert soft["bos_nontrigger"] - sig["bos_nontrigger"] > Z * se, (soft, sig)


@pytest.mark.xdist_group("backcopy")  # one worker: backcopy_softmax trains once
def test_backcopy_bos_logit_grows_while_bos_value_norm_shrinks(backcopy_softmax):
  """Guo et al.'s mutual reinforcement, from the in-training probes (probe batch of
  128 prompts, every 50 steps): the BOS logit on non-trigger queries rises from about
  0 to well above the other keys', and the BOS value norm falls below the others'."""
  _, _, _, records = backcopy_softmax
  probes = [r for r in records if "probe/sink_logit_nontrigger/l0h0" in r]
  first, last = probes[0], probes[-1]
  gap = [r["probe/sink_logit_nontrigger/l0h0"] for r in probes]
  value_bos = [r["probe/value_norm_sink/l0h0"] for r in probes]
  print("BOS logit gap:", np.round(gap, 2), "BOS value norm:", np.round(value_bos, 2))
  assert first["step"] == 50 and last["step"] == 500, (first["step"], last["step"])
  assert gap[-1] > gap[0] + 5.0, gap
  assert value_bos[-1] < 0.75 * value_bos[0], value_bos
  assert last["probe/value_norm_sink/l0h0"] < last["probe/value_norm_rest/l0h0"], last


# --- in-context parity ----------------------------------------------------------------


def _icparity(variant: str):
  c = parity.get_config(variant)
  c.task.context_len = 20
  c.train.num_steps = 300
  c.train.batch_size = 128
  c.train.lr = 1e-2
  c.train.log_every = c.train.eval_every = c.train.ckpt_every = 300
  c.probes.every = 0
  c.eval.num_prompts = 4_096
  c.eval.batch_size = 4_096
  return c


def test_linear_attention_is_at_chance_on_two_parities_and_solves_dictators(tmp_path):
  """Linear attention reads out a linear (odd) function of x_q; a parity of k = 2
  coordinates is even, so the sign accuracy is exactly 1/2 for any weights."""
  c = _icparity("incontext_linear")
  k2, _ = _train(c, tmp_path / "k2")
  n = c.eval.num_prompts
  print("k = 2:", k2)
  assert abs(k2["acc"] - 0.5) < Z * _binomial_se(0.5, n), k2
  d = _icparity("dictator")
  d.model.attention = "linear"
  k1, _ = _train(d, tmp_path / "k1")
  assert k1["acc"] > 0.5 + 2 * Z * _binomial_se(0.5, n) + 0.1, k1
  assert np.isfinite(k1["loss"])


def test_softmax_attention_beats_chance_on_held_out_parities_through_its_kernel(tmp_path):
  """The default in-context parity model (one softmax layer, H = 2; n = 10, k = 2,
  m = 40) at lr 3e-3 and 1500 steps (~12 s): held-out functions 0.60, training
  functions 0.78 (full run, lab notes: 0.61 / 0.78). The homogeneous kernel estimator
  with the model's own (omega, mu) (theory.kernel_predict) is above chance on both
  splits alike: a Hamming-distance smoother, which any parity admits."""
  c = _icparity("incontext")
  c.task.context_len = 40
  c.train.num_steps = c.train.eval_every = c.train.ckpt_every = 1_500
  c.train.log_every = 100
  c.train.lr = 3e-3
  final, _ = _train(c, tmp_path)
  params, exp = _trained_params(c, str(tmp_path))
  # Evaluation draws from all functions: the held-out share of prompts is theirs.
  n_heldout = c.eval.num_prompts * float(np.mean(exp.task.heldout))
  n_train = c.eval.num_prompts - n_heldout
  print("in-context parity, softmax:", final)
  assert final["acc_heldout_fn"] > 0.5 + Z * _binomial_se(0.5, n_heldout), final
  se = math.hypot(_binomial_se(final["acc_train_fn"], n_train),
                  _binomial_se(final["acc_heldout_fn"], n_heldout))
  assert final["acc_train_fn"] - final["acc_heldout_fn"] > Z * se, final

  (w_kq, w_ov), = weight_probes.merged_weights(c.model.name, params,
                                               c.model.num_heads).values()
  r = theory.reduced_params(w_kq, w_ov, c.task.dim, c.task.context_len, 0.0)
  n = 8_192
  acc = {}
  for split in ("train", "heldout"):
    b = exp.task.sample(jax.random.key(7), n, split=split)
    yhat = theory.kernel_predict(b["x"], b["y"], b["xq"], r["omega"], r["mu"])
    acc[split] = float(jnp.mean(jnp.sign(yhat) == b["yq"]))
  print("kernel estimator with the model's (omega, mu):", acc, r["omega"], r["mu"])
  se = math.hypot(_binomial_se(acc["train"], n), _binomial_se(acc["heldout"], n))
  assert acc["heldout"] > 0.5 + Z * _binomial_se(0.5, n), acc
  assert abs(acc["train"] - acc["heldout"]) < Z * se, acc

# --- MQAR: linear attention's state size ------------------------------------------


def _memory(d_model: int, num_pairs: int):
  """configs/sweeps/mqar_pairs.py's linear model (1 layer, short conv 4, V = 512) at
  T = 64 and 1000 of its 2000 steps, NUM_SEEDS seeds vmapped: seed 0 measured
  accuracy 0.94 at K = 2 and 0.14 at K = 16 with d_k = 16, 0.84 at K = 16 with
  d_k = 32 (lab notes, MQAR)."""
  c = mqar_pairs.get_config().base
  c.model.d_model = d_model
  c.task.num_pairs = num_pairs
  c.task.seq_len = 64
  c.train.num_steps = c.train.eval_every = c.train.ckpt_every = 1_000
  c.train.num_seeds = NUM_SEEDS
  c.eval.num_prompts = 512
  return c


def test_linear_attention_recall_falls_with_pairs_and_recovers_with_state(tmp_path):
  """Sizes of the seed means (margins T_SEEDS seed se + Z binomial se). Measured
  seeds 0, 1, 2: d_k = 16, K = 2: 0.936 / 0.934 / 0.964; d_k = 16, K = 16: 0.137 /
  0.149 / 0.164; d_k = 32, K = 16: 0.837 / 0.902 / 0.678. So with d_k = 16 recall is
  high at K = 2 (> 0.8; lower limit 0.89) and low at K = 16 (< 0.25; upper limit
  0.19; guessing is 1/16), and doubling the state to d_k = 32 recovers it at K = 16
  (> 0.45, three times the d_k = 16 value; lower limit 0.51, the seeds spread
  widely)."""
  acc = {}
  for d_model, num_pairs in [(16, 2), (16, 16), (32, 16)]:
    config = _memory(d_model, num_pairs)
    _, records = _train(config, tmp_path / f"d{d_model}_k{num_pairs}")
    n = config.eval.num_prompts * num_pairs
    acc[d_model, num_pairs] = _margin(records, "eval_acc", n)
    print(f"mqar linear d_k = {d_model}, K = {num_pairs}:",
          _seed_stats(records, "eval_acc"))
  (a2, m2), (a16, m16), (b16, n16) = acc[16, 2], acc[16, 16], acc[32, 16]
  assert a2 - m2 > 0.8, acc  # few pairs fit in the state
  assert a16 + m16 < 0.25, acc  # more pairs, same state
  assert b16 - n16 > 0.45, acc  # larger state
