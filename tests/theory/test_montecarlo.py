"""Monte-Carlo estimator (theory/montecarlo.py)."""

import jax.numpy as jnp
import numpy as np

import theory
from tests.theory.conftest import key
from icl.tasks.regression import RegressionTask


def test_zero_predictor_mean_and_stderr():
  """E yq^2 = 1 + s2 and Var yq^2 = 2 (1 + s2)^2 + 6/d.

  Given beta, yq ~ N(0, |beta|^2 + s2) with |beta|^2 ~ chi^2_d / d, so
  E yq^4 = 3 E(|beta|^2 + s2)^2 = 3 ((1 + s2)^2 + 2/d).
  """
  s2, n = 0.1, 40_000
  task = RegressionTask(dim=3, context_len=4, noise_var=s2)
  mean, se = theory.mc_risk(lambda b: jnp.zeros_like(b["yq"]), task.sample, key(0), n, 4000)
  d = 3
  expected_se = np.sqrt((2 * (1 + s2) ** 2 + 6 / d) / n)
  # The sample sd of a fourth-moment quantity: a few % at n = 4e4.
  assert abs(float(se) - expected_se) < 0.05 * expected_se
  assert abs(float(mean) - (1 + s2)) < 5 * float(se)


def test_pytree_output_matches_single():
  task = RegressionTask()
  f = lambda b: theory.gd_predict(b["x"], b["y"], b["xq"], 0.8)
  m1, s1 = theory.mc_risk(f, task.sample, key(3), 10_000, 2500)
  m2, s2 = theory.mc_risk(lambda b: {"a": f(b), "b": [f(b)]}, task.sample, key(3), 10_000, 2500)
  np.testing.assert_allclose(m2["a"], m1, rtol=1e-6)
  np.testing.assert_allclose(m2["b"][0], m1, rtol=1e-6)
  np.testing.assert_allclose(s2["a"], s1, rtol=1e-5)


def test_bayes_risk_mc_matches_ridge_mc(mc_near):
  """The Rao-Blackwellised Bayes risk agrees with the plain MC of the predictor."""
  exact, exact_se = theory.bayes_risk_mc(key(9), 5, 40, 0.1, 10_000, 2000)
  assert float(exact_se) < 1e-4
  assert abs(mc_near["mean"]["bayes"] - float(exact)) < 5 * mc_near["stderr"]["bayes"]
