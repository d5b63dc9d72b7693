"""The direction of each phenomenon of shared/spec/tasks.md, at tiny CPU sizes.

Every test trains in-process with `train_and_evaluate` (same seed and steps for the
runs it compares) and asserts the sign of the effect. Where the metric is an average
over prompts the margin is a multiple of its binomial standard error, so each
assertion can fail. Reproductions at larger sizes: WORKSPACE_NOTES.md, "Other tasks".
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import backcopy, instability, mqar, parity
from icl import workdir as workdir_lib
from icl.models.intermediates import AttnLogits, AttnWeights
from icl.probes import attention as attention_probes
from icl.train import checkpoint, core, train_and_evaluate

Z = 4.0  # standard errors of margin: a false failure has probability < 1e-4


def _train(config, path) -> tuple[dict, list[dict]]:
  final = train_and_evaluate(config, str(path))
  return final, workdir_lib.read_metrics(str(path))


def _binomial_se(p: float, n: int) -> float:
  return math.sqrt(max(p * (1.0 - p), 1e-4) / n)


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
  """configs/mqar.py:fast (V = 64, T = 32, K = 4, width 64, 800 steps at lr 3e-3):
  softmax (seed 0) passes the induction phase change by step ~700 and ends at 1.0,
  while linear attention of the same width stays near the 1/K of guessing among the
  context's values (0.31); ~32 s per run on one core (lab notes, MQAR). Only the
  direction is asserted: with seed 1 softmax is still at 0.76 at step 800."""
  c = mqar.get_config("fast")
  c.model.attention = attention
  return c


def test_mqar_softmax_beats_linear_attention(tmp_path):
  config = _mqar("softmax")
  soft, _ = _train(config, tmp_path / "softmax")
  lin, _ = _train(_mqar("linear"), tmp_path / "linear")
  n = config.eval.num_prompts * config.task.num_pairs  # query positions scored
  se = math.hypot(_binomial_se(soft["acc"], n), _binomial_se(lin["acc"], n))
  print("mqar acc softmax, linear, se:", soft["acc"], lin["acc"], se)
  assert soft["acc"] - lin["acc"] > Z * se, (soft["acc"], lin["acc"])


# --- instability --------------------------------------------------------------------


def _instability(variant: str):
  c = instability.get_config(variant)
  c.task.seq_len = 32
  c.model.d_model = 32
  c.train.lr = 3e-2
  c.train.num_steps = 150
  c.train.warmup_steps = 15
  c.train.log_every = c.train.eval_every = c.train.ckpt_every = 150
  c.probes.every = 0  # the max logit is measured from the checkpoint (_max_logit)
  c.eval.num_prompts = 64
  return c


def _max_logit(config, workdir: str, num_prompts: int = 64) -> float:
  """Largest pre-normalisation attention score over layers, heads and fresh prompts
  (the probe/max_logit of docs/probes.md), from the trained checkpoint."""
  params, exp = _trained_params(config, workdir)
  batch = exp.task.sample(jax.random.key(123), num_prompts)
  _, captured = exp.apply(params, batch, AttnLogits)
  return max(float(attention_probes.max_logit(v).max())
             for v in attention_probes.captured_layers(captured).values())


def _trained_max_logit(variant: str, path) -> float:
  config = _instability(variant)
  _train(config, path)
  return _max_logit(config, str(path))


@pytest.fixture(scope="module")
def plain_max_logit(tmp_path_factory):
  """The max logit of the run without a fix (shared by the two tests below)."""
  return _trained_max_logit("none", tmp_path_factory.mktemp("instability") / "none")


def test_qk_norm_bounds_the_attention_logits(plain_max_logit, tmp_path):
  """At lr 3e-2 the plain run's largest attention logit ends far above the qk-norm
  run's (measured: 128 vs 6.9)."""
  qk = _trained_max_logit("qk_norm", tmp_path / "qk_norm")
  print("max attention logit, none vs qk_norm:", plain_max_logit, qk)
  assert qk < plain_max_logit, (plain_max_logit, qk)


def test_sigma_reparam_bounds_the_attention_logits(plain_max_logit, tmp_path):
  sigma = _trained_max_logit("sigma_reparam", tmp_path / "sigma_reparam")
  print("max attention logit, none vs sigma_reparam:", plain_max_logit, sigma)
  assert sigma < plain_max_logit, (plain_max_logit, sigma)


# --- bigram-backcopy ------------------------------------------------------------------


def _backcopy(variant: str):
  c = backcopy.get_config(variant)
  c.task.seq_len = 32
  c.model.d_model = 32
  c.train.lr = 3e-3
  c.train.num_steps = 300
  c.train.warmup_steps = 30
  c.train.log_every = c.train.eval_every = c.train.ckpt_every = 300
  c.probes.every = 0
  c.eval.num_prompts = 64
  return c


def _attention_stats(config, workdir: str, num_prompts: int = 128) -> dict:
  """From the trained checkpoint, on fresh prompts: attention (row-renormalised, mean
  over heads) on BOS and on the previous token, averaged over trigger and over
  non-trigger queries i >= 1; and the number of non-trigger queries."""
  params, exp = _trained_params(config, workdir)
  batch = exp.task.sample(jax.random.key(123), num_prompts)
  _, captured = exp.apply(params, batch, AttnWeights)
  weights = next(iter(attention_probes.captured_layers(captured).values()))  # [B, H, T, T]
  weights = attention_probes.renormalise(weights).mean(axis=1)  # [B, T, T]
  on_bos = weights[:, 1:, 0]
  on_prev = jnp.diagonal(weights, offset=-1, axis1=1, axis2=2)  # A[i, i-1], i >= 1
  trig = batch["is_trigger"][:, 1:]  # the query token at i is a trigger
  mean = lambda x, m: float(jnp.sum(x * m) / jnp.sum(m))
  return {"bos_nontrigger": mean(on_bos, 1 - trig), "bos_trigger": mean(on_bos, trig),
          "prev_nontrigger": mean(on_prev, 1 - trig), "prev_trigger": mean(on_prev, trig),
          "num_nontrigger": int(jnp.sum(1 - trig)), "num_prompts": num_prompts}


@pytest.fixture(scope="module")
def backcopy_softmax(tmp_path_factory):
  config = _backcopy("softmax")
  path = tmp_path_factory.mktemp("backcopy") / "softmax"
  final, _ = _train(config, path)
  return config, final, _attention_stats(config, str(path))


def test_backcopy_head_is_active_on_triggers_and_dormant_otherwise(backcopy_softmax):
  """After a trigger the head attends to the previous token (the back-copy); after
  other tokens it does not."""
  config, final, stats = backcopy_softmax
  print("backcopy:", final, stats)
  assert final["acc_trigger"] > 0.9, final
  # Per-query values lie in [0, 1]; one effective sample per prompt is conservative.
  se = 0.5 / math.sqrt(stats["num_prompts"])
  assert stats["prev_trigger"] > 0.3, stats
  assert stats["prev_trigger"] - stats["prev_nontrigger"] > Z * se, stats


@pytest.mark.xfail(reason="at the CPU test size (T = 32, 300 steps) and in the 1k-step "
                   "reproduction (T = 256) the dormant head does not sink on BOS "
                   "(WORKSPACE_NOTES.md, Other tasks); strict, so a sink at this size "
                   "fails the run and the note gets updated", strict=True)
def test_backcopy_dormant_head_sinks_on_bos_and_sigmoid_removes_it(backcopy_softmax,
                                                                   tmp_path):
  config, _, soft = backcopy_softmax
  se = 0.5 / math.sqrt(soft["num_prompts"])
  assert soft["bos_nontrigger"] > 0.5 + Z * se, soft
  sig_config = _backcopy("sigmoid")
  _train(sig_config, tmp_path / "sigmoid")
  sig = _attention_stats(sig_config, str(tmp_path / "sigmoid"))
  assert soft["bos_nontrigger"] - sig["bos_nontrigger"] > Z * se, (soft, sig)


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
