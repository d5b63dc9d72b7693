"""Calibration of the SGLD LLC estimator on models with known learning coefficients.

Targets (docs/devinterp.md): regular linear regression d = 5 gives d/2 up to the
closed-form localization and step-size biases of `theory.llc.quadratic_llc`; the
normal crossing y = w1 w2 x gives 1/2 (underestimated ~20% at n = 1000); reduced-rank
regression 4 -> 3 -> 4 at truth 0 gives 5 (regular count 12), falling as gamma grows.
Fixed seeds; each test takes a few seconds on one core. Tolerances: 3 standard errors
of the chain mean (std / sqrt(chains)) unless the target is a stated band.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from icl.probes import llc as llc_lib
from theory import llc as theory

N = 1000


@pytest.fixture(scope="module")
def regression():
  data = theory.linear_regression_data(jax.random.key(0), N, 5)
  w_star = theory.ols(data)  # the empirical minimiser: the true w biases low
  curvatures = jnp.linalg.eigvalsh(jax.hessian(theory.linear_regression_loss)(w_star, data))
  return data, w_star, curvatures


def _regression_llc(regression, epsilon, gamma):
  data, w_star, curvatures = regression
  config = llc_lib.LLCConfig(epsilon=epsilon, gamma=gamma, num_chains=8, num_burnin=500,
                             num_draws=2000)
  fixed = llc_lib.fixed_data(data)
  out = llc_lib.jit_estimate(theory.linear_regression_loss, fixed, config)(
      w_star, jax.random.key(1))
  predicted = float(theory.quadratic_llc(curvatures, fixed.nbeta(config), gamma, epsilon))
  se = float(out["llc_std"]) / math.sqrt(config.num_chains)
  return out, predicted, se


def test_regular_regression_gives_d_over_2(regression):
  out, predicted, se = _regression_llc(regression, 1e-4, 1.0)
  print("regular llc:", float(out["llc"]), "+-", float(out["llc_std"]), "predicted", predicted)
  assert abs(float(out["llc"]) - 2.45) < 0.2
  assert abs(float(out["llc"]) - predicted) < 3 * se
  assert not np.any(out["nonfinite"])
  assert llc_lib.diagnose(out, 500) == []


def test_step_size_inflation_matches_formula(regression):
  out, predicted, se = _regression_llc(regression, 1e-3, 1.0)
  print("eps 1e-3 llc:", float(out["llc"]), "+-", float(out["llc_std"]), "predicted", predicted)
  no_bias = float(theory.quadratic_llc(regression[2], N / math.log(N), 1.0, 0.0))
  assert predicted / no_bias > 1.07  # the effect is larger than the tolerance
  assert abs(float(out["llc"]) - predicted) < 3 * se
  assert 2.6 < float(out["llc"]) < 2.8


def test_localization_shrinkage_matches_formula(regression):
  out, predicted, se = _regression_llc(regression, 1e-4, 100.0)
  print("gamma 100 llc:", float(out["llc"]), "+-", float(out["llc_std"]), "predicted", predicted)
  assert abs(predicted - 1.86) < 0.05  # 1/2 sum 1 / (1 + gamma / (nbeta h)), h ~ 2
  assert abs(float(out["llc"]) - predicted) < 3 * se


def test_normal_crossing_gives_one_half():
  data = theory.null_data(jax.random.key(2), N, sigma=0.25)
  config = llc_lib.LLCConfig(epsilon=5e-4, gamma=1.0, num_chains=8, num_burnin=1000,
                             num_draws=5000)
  out = llc_lib.jit_estimate(theory.monomial_loss(1, 1), llc_lib.fixed_data(data), config)(
      {"w": jnp.zeros(2)}, jax.random.key(3))
  assert theory.monomial_llc(1, 1) == 0.5
  print("normal crossing llc:", float(out["llc"]), "+-", float(out["llc_std"]))
  assert 0.35 <= float(out["llc"]) <= 0.55


def _train_rrr(data, steps=5000):
  k1, k2 = jax.random.split(jax.random.key(5))
  params = {"A": 0.1 * jax.random.normal(k1, (3, 4)), "B": 0.1 * jax.random.normal(k2, (4, 3))}
  opt = optax.adam(1e-2)

  @jax.jit
  def train(params):
    def body(carry, _):
      p, s = carry
      u, s = opt.update(jax.grad(theory.rrr_loss)(p, data), s, p)
      return (optax.apply_updates(p, u), s), None
    return jax.lax.scan(body, (params, opt.init(params)), None, length=steps)[0][0]
  return train(params)


def test_reduced_rank_regression_is_degenerate_and_falls_with_gamma():
  data = theory.null_data(jax.random.key(4), N, 4, 4, sigma=1.0)
  w_star = _train_rrr(data)
  fixed = llc_lib.fixed_data(data)
  truth = theory.rrr_llc(4, 3, 4)
  assert truth == 5.0
  # One compiled call for the gamma sweep: the config's floats may be traced.
  sweep = jax.jit(jax.vmap(lambda gamma: llc_lib.estimate(
      theory.rrr_loss, w_star, jax.random.key(6), fixed,
      llc_lib.LLCConfig(epsilon=2e-4, gamma=gamma, num_chains=8, num_burnin=500,
                        num_draws=2500))["llc"]))
  llcs = [float(x) for x in sweep(jnp.array([1.0, 10.0, 100.0]))]
  print("rrr llc by gamma 1, 10, 100:", llcs)
  assert abs(llcs[0] - truth) < 0.2 * truth
  assert llcs[0] < theory.regular_llc(24) / 2  # far below the regular count 12
  assert llcs[0] > llcs[1] > llcs[2]


def test_over_time_is_one_call_with_common_random_numbers(regression):
  """Stacked checkpoints (here with minibatches of the fixed dataset) in one vmapped
  call give each checkpoint's single estimate: the same keys at every checkpoint."""
  data, w_star, _ = regression
  config = llc_lib.LLCConfig(epsilon=1e-4, gamma=1.0, num_chains=2, num_burnin=50,
                             num_draws=100)
  fixed = llc_lib.fixed_data(data, batch_size=100)
  stacked = jnp.stack([w_star, w_star + 0.01, w_star])
  over = llc_lib.jit_estimate(theory.linear_regression_loss, fixed, config, over_time=True)(
      stacked, jax.random.key(7))
  single = llc_lib.jit_estimate(theory.linear_regression_loss, fixed, config)(
      w_star + 0.01, jax.random.key(7))
  assert over["llc"].shape == (3,) and over["loss_trace"].shape == (3, 2, 150)
  np.testing.assert_allclose(over["llc_chains"][1], single["llc_chains"], rtol=1e-4)
  np.testing.assert_array_equal(over["llc_chains"][0], over["llc_chains"][2])


def test_mapped_chains_and_checkpoints_give_the_vmapped_draws(regression):
  """chain_batching / checkpoint_batching = 'map' (lax.map: the CPU's faster layout
  for a transformer) runs the same chains as 'vmap': same keys, same draws."""
  data, w_star, _ = regression
  fixed = llc_lib.fixed_data(data, batch_size=100)
  stacked = jnp.stack([w_star, w_star + 0.01])
  out = {}
  for how in ("vmap", "map"):
    config = llc_lib.LLCConfig(epsilon=1e-4, gamma=1.0, num_chains=3, num_burnin=20,
                               num_draws=40, chain_batching=how, checkpoint_batching=how)
    out[how] = llc_lib.jit_estimate(theory.linear_regression_loss, fixed, config,
                                    over_time=True)(stacked, jax.random.key(7))
  assert out["map"]["loss_trace"].shape == (2, 3, 60)
  np.testing.assert_allclose(out["map"]["loss_trace"], out["vmap"]["loss_trace"], rtol=1e-5)
  np.testing.assert_allclose(out["map"]["llc_chains"], out["vmap"]["llc_chains"], rtol=1e-4,
                             atol=1e-4)
  with pytest.raises(ValueError, match="chain_batching"):
    llc_lib.LLCConfig(chain_batching="pmap")


def test_diagnostics_flag_divergence_step_size_negative_and_unconverged():
  data = theory.linear_regression_data(jax.random.key(0), N, 5)
  w_star = theory.ols(data)
  fixed = llc_lib.fixed_data(data)
  # One compiled estimate for every case: epsilon may be traced.
  run = jax.jit(lambda w, epsilon: llc_lib.estimate(
      theory.linear_regression_loss, w, jax.random.key(1), fixed,
      llc_lib.LLCConfig(epsilon=epsilon, gamma=1.0, num_chains=2, num_burnin=50,
                        num_draws=1000)))
  # nbeta h ~ 290: epsilon = 3e-3 is near the limit 4 / 290, 2e-2 is past it. Away
  # from the minimum SGLD descends (a negative estimate); with a tiny step the chains
  # are far from equilibrium after burn-in (relaxation ~ 1 / (epsilon a) steps).
  for w, epsilon, expect in ((w_star, 3e-3, "near the stability limit"),
                             (w_star, 2e-2, "diverged"),
                             (w_star + 0.3, 1e-4, "negative LLC"),
                             (w_star, 1e-6, "still rising")):
    warnings = llc_lib.diagnose(jax.device_get(run(w, epsilon)), 50)
    assert any(expect in x for x in warnings), (epsilon, warnings)
  assert llc_lib.diagnose(jax.device_get(run(w_star, 1e-4)), 50) == []
  config = llc_lib.LLCConfig()
  with pytest.raises(ValueError, match="explicit nbeta"):
    llc_lib.fresh_data(lambda k: data, jax.random.key(0), 1).nbeta(config)
