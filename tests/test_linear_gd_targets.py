"""Fast versions of targets T2, T4 and T8 of docs/linear_gd.md: the `lsa` model
trained with the stock training step (icl.train.core) at d = 5, n = 10 (CPU-sized),
against the closed forms of theory/linear_gd.py. Fixed seeds; each tolerance is the
evaluation's Monte-Carlo error (5 SE) plus the optimisation gap left at this budget
(measured at seeds 0-2, see WORKSPACE_NOTES.md, "Linear attention vs GD")."""

import math

import jax
import numpy as np
import pytest

import theory
from configs.linear_gd import get_config
from icl.probes import recording
from icl.train import core

D, N = 5, 10
EVAL_PROMPTS = 40_000


def train(arg, steps, seed=0):
  """(Experiment, seed-0 params, eval risk, its SE, probes) after `steps` steps."""
  c = get_config(f"dim={D},context_len={N},{arg},steps={steps}")
  c.train.batch_size = 1024
  c.seed = seed
  exp = core.Experiment.from_config(c)
  init_keys, data_keys = core.seed_keys(exp.config)
  states = core.init_states(exp, init_keys)
  states, _ = core.train_chunk(exp, states, data_keys, steps)
  result = core.evaluate(exp, states["params"], jax.random.key(99), EVAL_PROMPTS, 10_000)
  params = jax.tree.map(lambda a: a[0], states["params"])
  probes = jax.device_get(recording.compute(exp.probe_context(), params))
  return exp, float(result["loss"][0]), float(result["loss_stderr"][0]), probes


# Issue-level acceptance runs (~40 s each on 2 cores): python -m pytest -m slow.
pytestmark = pytest.mark.slow


def test_t2_one_head_learns_one_step_gd():
  """mu = 0, sigma = 0: R* = B (1 - gamma*), gamma* = n / (n + 1 + d) = 0.625."""
  _, risk, se, probes = train("t2,lr=0.003", 1500)
  gamma = theory.gd_init_opt_step(D, N, 1 / D, 0.0, 0.0)
  want = theory.gd_init_opt_risk(D, N, 1 / D, 0.0, 0.0)
  assert abs(risk - want) < 5 * se + 0.01, (risk, se, want)
  assert probes["gamma_scale"] == pytest.approx(gamma, rel=0.03)
  assert probes["gamma_offdiag"] < 0.03
  assert probes["sens_cos"] > 0.99


def test_t4_von_oswald_one_layer_is_tuned_gd():
  """x ~ U(-1/2, 1/2), w ~ N(0, I), q/k/v/P, no 1/n: 1/2 MSE -> the tuned-GD loss."""
  _, risk, se, probes = train("t4,lr=0.003", 1500)
  _, half = theory.uniform_gd_opt(D, N)
  assert abs(risk / 2 - half) < 5 * se / 2 + 0.03 * half, (risk / 2, se / 2, half)
  assert probes["sens_cos"] > 0.99


def test_t8_trainable_guess_reaches_gd_from_the_prior_mean():
  """mu = 1/sqrt(d) 1, sigma^2 = 0.1, y_q-LSA with yhat0 = theta^T x_q: R -> GD from mu
  and theta -> mu; far below GD from 0."""
  _, risk, se, probes = train("t8,lr=0.01", 1500)
  want = theory.gd_init_opt_risk(D, N, 1 / D, 0.0, 0.1)
  from_zero = theory.gd_init_opt_risk(D, N, 1 / D, 1.0, 0.1)
  assert abs(risk - want) < 5 * se + 0.015, (risk, se, want)
  assert risk < from_zero - 0.2
  assert probes["theta_proj"] == pytest.approx(1.0, abs=0.05)
  assert probes["theta_err"] < 0.1 * math.sqrt(1.0)
  assert np.isfinite(probes["sens_cos"])
