"""Model versus theory: a model built with the four patterns is the kernel estimator."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

import theory
from configs.regression import get_config
from icl.evaluate import theory as compare
from icl.train import core


def patterned_params(omega, mu, dim=5):
  """Q_h = omega_h sqrt(D) I, K_h = I, V_h = I, O_h = mu_h e_last: then
  W_KQ^h = omega_h I and W_OV^h = mu_h e_last exactly."""
  width = dim + 1
  heads = len(omega)
  eye = jnp.broadcast_to(jnp.eye(width), (heads, width, width))
  q = eye * (jnp.asarray(omega) * math.sqrt(width))[:, None, None]
  out = jnp.zeros((heads, 1, width)).at[:, 0, -1].set(jnp.asarray(mu))
  return {"query": q, "key": eye, "value": eye, "out": out}


def test_patterned_model_is_the_kernel_estimator():
  config = get_config()
  exp = core.Experiment.from_config(config)
  omega, mu = [0.15, -0.15], [3.0, -2.9]
  params = patterned_params(omega, mu)
  batch = exp.task.sample(jax.random.key(0), 64)
  pred = exp.apply(params, batch)
  expected = theory.kernel_predict(batch["x"], batch["y"], batch["xq"],
                                   jnp.asarray(omega), jnp.asarray(mu))
  np.testing.assert_allclose(pred, expected, rtol=1e-4, atol=1e-5)
  red = compare.model_reduced_params(params, exp.task)
  np.testing.assert_allclose(red["omega"], omega, rtol=1e-6)
  np.testing.assert_allclose(red["mu"], mu, rtol=1e-6)
  np.testing.assert_allclose(red["eta"], 0.15 * 3.0 + 0.15 * 2.9, rtol=1e-6)


@functools.lru_cache  # one draw per setting, shared by the tests below
def _gd_opt_mc(d, L, s2, n):
  """_one_step_gd_mc at theory's optimal step (seed d)."""
  return _one_step_gd_mc(float(theory.gd_opt_step(d, L, s2)), d, L, s2, n=n, seed=d)


def _one_step_gd_mc(eta, d, L, s2, n=100_000, seed=0):
  """Monte Carlo in numpy (independent of the task's sampler and of theory): beta ~
  N(0, I/d), x ~ N(0, I), y = beta.x + N(0, s2); one-step GD predicts a = g.xq with
  g = (1/L) sum_l y_l x_l, scaled by a step. Its risk at step eta with a standard
  error, and the Monte-Carlo optimal step E[a yq]/E[a^2] with its delta-method se."""
  rng = np.random.default_rng(seed)
  beta = rng.normal(size=(n, d)) / math.sqrt(d)
  x = rng.normal(size=(n, L + 1, d))
  y = (x @ beta[:, :, None])[..., 0] + math.sqrt(s2) * rng.normal(size=(n, L + 1))
  g = (y[:, None, :L] @ x[:, :L])[:, 0] / L
  a, yq = np.sum(g * x[:, L], axis=-1), y[:, L]
  err2 = (eta * a - yq) ** 2
  best = np.mean(a * yq) / np.mean(a * a)
  score = a * (yq - best * a)  # the estimating equation of the optimal step
  return {"risk": err2.mean(), "risk_se": err2.std(ddof=1) / math.sqrt(n),
          "step": best, "step_se": score.std(ddof=1) / math.sqrt(n) / np.mean(a * a)}


def test_one_step_gd_optimum_against_monte_carlo():
  """theory.gd_opt_step / gd_opt_risk (d = 5, L = 40, s2 = 0.1: 0.860, 0.2398) are
  the optimum of a Monte-Carlo risk: the MC-optimal step and the MC risk at
  theory's step agree within 5 standard errors (se ~0.0015 and ~0.0011 at 1e5
  prompts); at (d, L, s2) = (20, 30, 1) the excess (d + 1 + d s2)/L = 1.37 is large
  (se ~0.004 and ~0.01 at 5e4 prompts)."""
  for d, L, s2, n in [(5, 40, 0.1, 100_000), (20, 30, 1.0, 50_000)]:
    step = float(theory.gd_opt_step(d, L, s2))
    mc = _gd_opt_mc(d, L, s2, n)
    assert abs(mc["step"] - step) < 5 * mc["step_se"], (d, L, s2, step, mc)
    risk = float(theory.gd_opt_risk(d, L, s2))
    assert abs(mc["risk"] - risk) < 5 * mc["risk_se"], (d, L, s2, risk, mc)


def test_theory_risks_of_a_patterned_model():
  """On 2e4 prompts at L = 40: the patterned model's kernel risk is close to
  debiased GD with the same eta (small omega) and above the Bayes risk 0.1145."""
  config = get_config()
  exp = core.Experiment.from_config(config)
  params = patterned_params([0.1, -0.1], [4.4, -4.4])  # eta = 0.88, sum mu = 0
  risks, se = compare.theory_risks(config, exp.task, params, jax.random.key(1),
                                   20_000, 4096, 40)
  assert abs(risks["ridge"] - 0.1145) < 5 * se["ridge"]
  # gd_opt against a Monte-Carlo risk of one-step GD at theory's step size.
  mc = _gd_opt_mc(5, 40, 0.1, 100_000)
  assert abs(risks["gd_opt"] - mc["risk"]) < 5 * mc["risk_se"], (risks["gd_opt"], mc)
  assert abs(risks["kernel"] - risks["debiased_gd"]) < 0.01
  assert risks["kernel"] > risks["ridge"] + 0.1
  # the reduced loss understates the finite-L risk by ~1/(L + d(1+s2)) = 0.022
  assert 0.01 < risks["kernel"] - risks["reduced"] < 0.04
