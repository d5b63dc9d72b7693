"""Model versus theory: a model built with the four patterns is the kernel estimator."""

import math

import jax
import jax.numpy as jnp
import numpy as np

import theory
from configs.regression import get_config
from icl import compare
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


def test_theory_risks_of_a_patterned_model():
  """On 2e4 prompts at L = 40: the patterned model's kernel risk is close to
  debiased GD with the same eta (small omega) and above the Bayes risk 0.1145."""
  config = get_config()
  exp = core.Experiment.from_config(config)
  params = patterned_params([0.1, -0.1], [4.4, -4.4])  # eta = 0.88, sum mu = 0
  risks, se = compare.theory_risks(config, exp.task, params, jax.random.key(1),
                                   20_000, 4096, 40)
  assert abs(risks["ridge"] - 0.1145) < 5 * se["ridge"]
  assert risks["gd_opt"] == np.float32(theory.gd_opt_risk(5, 40, 0.1))
  assert abs(risks["kernel"] - risks["debiased_gd"]) < 0.01
  assert risks["kernel"] > risks["ridge"] + 0.1
  # the reduced loss understates the finite-L risk by ~1/(L + d(1+s2)) = 0.022
  assert 0.01 < risks["kernel"] - risks["reduced"] < 0.04
