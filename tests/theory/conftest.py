"""Shared Monte-Carlo passes for the theory tests.

Sampling dominates the CPU cost, so every predictor the tests need at a setting is
scored on the same prompts in one `mc_risk` pass (session-scoped, computed once).
"""

import jax
import jax.numpy as jnp
import pytest

import theory
from icl.tasks.regression import RegressionTask


def key(seed):
  """rbg keys: the sampler compiles ~4x faster on CPU than with threefry."""
  return jax.random.key(seed, impl="rbg")


NEAR = dict(d=5, L=40, s2=0.1)    # the paper's main setting
FAR = dict(d=20, L=100, s2=3.0)   # far from it in every parameter
NUM_PROMPTS = {"near": 200_000, "far": 60_000}
PAIR_OMEGA = 0.05                  # small omega: the pair is ~ debiased GD
SINGLE_OMEGA = 0.2                 # omega^2 < 1/6: the 1/L expansion is regular


def predictors(d, L, s2):
  """name -> (predict_fn on a batch). Parameters from the closed forms."""
  eta_gd = theory.gd_opt_step(d, L, s2)
  eta_dgd = theory.debiased_gd_opt_step(d, L, s2)
  gamma = theory.linear_attention_opt_step(d, L, s2)
  eta_inf, _ = theory.pair_limit(d, L, s2)
  w_opt, mu_opt, _ = theory.single_head_optimum(d, L, s2)
  pair_w = jnp.array([PAIR_OMEGA, -PAIR_OMEGA])
  pair_mu = eta_inf / (2 * PAIR_OMEGA) * jnp.array([1.0, -1.0])
  single_w = jnp.array([SINGLE_OMEGA])
  single_mu = theory.optimal_mu(single_w, d, L, s2)
  lin_w = jnp.array([0.3, -0.3])
  lin_mu = gamma / 0.6 * jnp.array([1.0, -1.0])
  return {
      "zero": lambda x, y, xq: jnp.zeros(xq.shape[:-1]),
      "gd_opt": lambda x, y, xq: theory.gd_predict(x, y, xq, eta_gd),
      "gd_half": lambda x, y, xq: theory.gd_predict(x, y, xq, 0.5),
      "dgd_opt": lambda x, y, xq: theory.debiased_gd_predict(x, y, xq, eta_dgd),
      "lin_opt": lambda x, y, xq: theory.linear_attention_predict(x, y, xq, lin_w, lin_mu),
      "lin_2L": lambda x, y, xq: theory.linear_attention_predict(
          x, y, xq, lin_w, lin_mu, n=2 * L),
      "bayes": lambda x, y, xq: theory.bayes_predict(x, y, xq, s2),
      "kernel_single_opt": lambda x, y, xq: theory.kernel_predict(
          x, y, xq, jnp.array([w_opt]), jnp.array([mu_opt])),
      "kernel_single": lambda x, y, xq: theory.kernel_predict(x, y, xq, single_w, single_mu),
      "kernel_pair": lambda x, y, xq: theory.kernel_predict(x, y, xq, pair_w, pair_mu),
  }


def run_setting(name, seed):
  setting = NEAR if name == "near" else FAR
  d, L, s2 = setting["d"], setting["L"], setting["s2"]
  task = RegressionTask(dim=d, context_len=L, noise_var=s2)
  preds = predictors(d, L, s2)
  predict = lambda b: {k: f(b["x"], b["y"], b["xq"]) for k, f in preds.items()}
  mean, stderr = theory.mc_risk(predict, task.sample, key(seed),
                                NUM_PROMPTS[name], 5000)
  return {"setting": setting, "mean": jax.tree.map(float, mean),
          "stderr": jax.tree.map(float, stderr)}


@pytest.fixture(scope="session")
def mc_near():
  return run_setting("near", 0)


@pytest.fixture(scope="session")
def mc_far():
  return run_setting("far", 1)


@pytest.fixture(params=["near", "far"])
def mc_setting(request, mc_near, mc_far):
  return mc_near if request.param == "near" else mc_far
