"""theory/linear_gd.py against Monte Carlo on the task's own sampler, and the values
of docs/linear_gd.md, "Targets". Tolerances: NSE Monte-Carlo standard errors."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import theory
from icl.tasks.regression import RegressionTask
from tests.theory.conftest import key

NSE = 5  # tolerance in Monte-Carlo standard errors
D, N = 10, 10
MU = 1 / math.sqrt(D)  # every coordinate of the prior mean: |mu| = 1


def check(mean, se, expected, name=""):
  assert abs(float(mean) - float(expected)) < NSE * float(se), (name, mean, se, expected)


def gaussian_task(**kw):
  return RegressionTask(**{"dim": D, "context_len": N, **kw})


@pytest.fixture(scope="module")
def mc_prior_mean():
  """GD from 0 and from mu (tuned closed-form steps), Bayes, a non-optimal step."""
  s2 = 0.1
  task = gaussian_task(noise_var=s2, prior_mean=MU)
  mu = jnp.full(D, MU)
  g0 = theory.gd_init_opt_step(D, N, 1 / D, 1.0, s2)
  gmu = theory.gd_init_opt_step(D, N, 1 / D, 0.0, s2)
  preds = lambda b: {
      "gd0": theory.gd_init_predict(b["x"], b["y"], b["xq"], jnp.zeros(D), g0),
      "gdmu": theory.gd_init_predict(b["x"], b["y"], b["xq"], mu, gmu),
      "gdmu_03": theory.gd_init_predict(b["x"], b["y"], b["xq"], mu, 0.3),
      "bayes": theory.bayes_mean_predict(b["x"], b["y"], b["xq"], mu, 1 / D, s2),
  }
  mean, se = theory.mc_risk(preds, task.sample, key(0), 100_000, 5000)
  return dict(mean=mean, se=se, s2=s2, g0=g0, gmu=gmu)


def test_gd_from_init_closed_forms_match_mc(mc_prior_mean):
  m, se, s2 = mc_prior_mean["mean"], mc_prior_mean["se"], mc_prior_mean["s2"]
  mu = jnp.full(D, MU)
  eye = jnp.eye(D)
  check(m["gd0"], se["gd0"], theory.gd_init_risk(mc_prior_mean["g0"], eye, N, 1 / D, mu, s2))
  check(m["gdmu"], se["gdmu"], theory.gd_init_opt_risk(D, N, 1 / D, 0.0, s2))
  check(m["gdmu_03"], se["gdmu_03"], theory.gd_init_risk(0.3, eye, N, 1 / D, 0 * mu, s2))
  # The isotropic closed forms agree with the general one.
  assert float(theory.gd_init_risk(mc_prior_mean["g0"], eye, N, 1 / D, mu, s2)) == (
      pytest.approx(float(theory.gd_init_opt_risk(D, N, 1 / D, 1.0, s2)), rel=1e-5))


def test_bayes_with_prior_mean_matches_its_trace_formula(mc_prior_mean):
  """sigma^2 + E tr(Sigma (X^T X / sigma^2 + I / tau^2)^{-1}), MC over X only."""
  s2 = mc_prior_mean["s2"]
  x = jax.random.normal(key(3), (20_000, N, D))
  post = jnp.linalg.inv(jnp.einsum("bnd,bne->bde", x, x) / s2 + D * jnp.eye(D))
  tr = jnp.trace(post, axis1=1, axis2=2)
  exact, exact_se = s2 + tr.mean(), tr.std() / math.sqrt(tr.shape[0])
  m, se = mc_prior_mean["mean"]["bayes"], mc_prior_mean["se"]["bayes"]
  assert abs(float(m) - float(exact)) < NSE * math.hypot(float(se), float(exact_se))
  assert abs(float(m) - 0.383) < 0.01  # docs/linear_gd.md, "Targets"
  assert float(m) < float(mc_prior_mean["mean"]["gdmu"]) < float(mc_prior_mean["mean"]["gd0"])


def test_isotropic_table_values():
  """docs/linear_gd.md, "Targets": d = n = 10, tau^2 = 1/d, |mu| = 1."""
  r = lambda gap, s2: round(float(theory.gd_init_opt_risk(D, N, 1 / D, gap, s2)), 4)
  assert r(0.0, 0.0) == pytest.approx(11 / 21, abs=1e-4)
  assert (r(1.0, 0.0), r(0.0, 0.1), r(1.0, 0.1), r(0.0, 0.25)) == (1.0476, 0.6455, 1.1698,
                                                                   0.8245)
  assert round(float(theory.gd_init_opt_step(D, N, 1 / D, 1.0, 0.1)), 4) == 0.4651


def test_optimal_preconditioner_diag_linspace():
  """Gamma* for Sigma = diag(linspace(0.2, 2, 10)): values, risk vs MC, optimality."""
  task = gaussian_task(noise_var=0.0, covariance="diag_linspace")
  cov = jnp.asarray(task.covariance_matrix(), jnp.float32)
  g = theory.lgd_optimal_preconditioner(cov, N, 1 / D, 0.0)
  np.testing.assert_allclose(np.diag(g)[[0, 4, 9]], [0.758, 0.455, 0.303], atol=1e-3)
  zero = jnp.zeros(D)
  risk = theory.gd_init_risk(g, cov, N, 1 / D, zero, 0.0)
  assert round(float(risk), 4) == 0.5387
  s2risk = theory.gd_init_risk(theory.lgd_optimal_preconditioner(cov, N, 1 / D, 0.1), cov, N,
                               1 / D, zero, 0.1)
  assert round(float(s2risk), 4) == 0.6591
  # First-order optimality: a perturbation of either sign raises the risk.
  for eps in (0.01, -0.01):
    assert float(theory.gd_init_risk(g + eps * jnp.eye(D), cov, N, 1 / D, zero, 0.0)) > float(risk)
  mean, se = theory.mc_risk(
      lambda b: theory.gd_init_predict(b["x"], b["y"], b["xq"], zero, g),
      task.sample, key(1), 100_000, 5000)
  check(mean, se, risk)


def test_von_oswald_uniform_gd_and_multistep():
  """x ~ U(-1/2, 1/2)^10, w ~ N(0, I), no noise: eta* and the 1/2-MSE loss 0.2062,
  then K-step GD with a grid-tuned step (docs/linear_gd.md: 0.157, 0.134)."""
  task = gaussian_task(noise_var=0.0, covariates="uniform", prior_scale=math.sqrt(D))
  eta, half = theory.uniform_gd_opt(D, N)
  assert (round(eta, 2), round(half, 4)) == (6.06, 0.2062)
  mean, se = theory.mc_risk(
      lambda b: theory.gd_multistep_predict(b["x"], b["y"], b["xq"], eta, 1),
      task.sample, key(2), 100_000, 5000)
  check(mean / 2, se / 2, half)
  tune = task.sample(key(4), 20_000)
  evals = task.sample(key(5), 50_000)
  for k, want in ((2, 0.157), (3, 0.134)):
    best, _ = theory.tune_gd_step(tune, k, jnp.arange(3.0, 9.0, 0.1))
    pred = theory.gd_multistep_predict(evals["x"], evals["y"], evals["xq"], best, k)
    err = jnp.square(pred - evals["yq"]) / 2
    sem = float(err.std()) / math.sqrt(err.shape[0])
    assert abs(float(err.mean()) - want) < NSE * sem + 0.0015, (k, float(err.mean()), sem)


def test_best_lsa_over_heads_is_gd_at_zero_mean_and_not_at_nonzero_mean():
  """Least squares over all one-layer LSAs (d = 3, n = 5, sigma^2 = 0.1): at mu = 0 it
  is one-step GD (no head helps); at mu != 0 it beats GD from 0 and stays above GD
  from mu; with yhat0 = mu^T x_q it reaches GD from mu."""
  d, n, s2 = 3, 5, 0.1
  bias = 30 / 400_000 + 40 / 400_000  # p / num_fit, relative, for the two feature sets
  for mean in (0.0, 1 / math.sqrt(d)):
    task = RegressionTask(dim=d, context_len=n, noise_var=s2, prior_mean=mean)
    gap = mean**2 * d
    r, se = theory.best_lsa_risk(task.sample, key(6), 400_000, 200_000, 10_000)
    gd0 = theory.gd_init_opt_risk(d, n, 1 / d, gap, s2)
    gdmu = theory.gd_init_opt_risk(d, n, 1 / d, 0.0, s2)
    tol = NSE * float(se) + bias * float(r)
    if mean == 0.0:
      assert abs(float(r) - float(gd0)) < tol, (float(r), float(gd0), tol)
    else:
      assert float(r) < float(gd0) - 0.05
      assert float(r) > float(gdmu) + tol
      guess = lambda b: b["xq"] @ jnp.full(d, mean)
      rg, seg = theory.best_lsa_risk(task.sample, key(7), 400_000, 200_000, 10_000, guess)
      assert float(rg) < float(gdmu) + NSE * float(seg) + bias * float(rg)


def test_head_bound_d_plus_one_heads_realise_any_head_count():
  d = 4
  k1, k2, k3 = jax.random.split(key(8), 3)
  kq = jax.random.normal(k1, (20, d + 1, d + 1))
  p = jax.random.normal(k2, (20, d + 1))
  kq2, p2 = theory.heads_from_tensor(theory.lsa_tensor(kq, p))
  assert kq2.shape[0] == theory.lsa_head_bound(d) == d + 1
  b = RegressionTask(dim=d, context_len=6).sample(k3, 64)
  for yq0 in (0.0, 0.7):
    np.testing.assert_allclose(
        theory.lsa_predict(b["x"], b["y"], b["xq"], kq2, p2, yq0),
        theory.lsa_predict(b["x"], b["y"], b["xq"], kq, p, yq0), rtol=2e-4, atol=2e-4)


def test_zfb_risk_length_and_covariate_shift():
  """d = 5, N = 20, Lam = diag(.25, .5, 1, 1.5, 2), Gamma = Gamma*(Lam, 20)."""
  task = RegressionTask(dim=5, context_len=20, noise_var=0.0, covariance="diag",
                        cov_diag="0.25,0.5,1,1.5,2", prior_scale=math.sqrt(5))
  lam = jnp.asarray(task.covariance_matrix(), jnp.float32)
  g = theory.lgd_optimal_preconditioner(lam, 20, 1.0, 0.0)
  np.testing.assert_allclose(np.diag(g), [1.905, 1.270, 0.762, 0.544, 0.423], atol=1e-3)
  curve = [round(float(theory.zfb_risk(g, lam, m)), 3) for m in (5, 10, 20, 40, 80)]
  assert curve == [3.667, 1.978, 1.134, 0.712, 0.501]
  assert round(float(theory.zfb_risk_inf(g, lam)), 3) == 0.290
  assert round(float(theory.zfb_risk(g, 2 * lam, 20)), 2) == 10.50
  assert round(float(theory.zfb_risk_inf(g, 2 * lam)), 3) == 3.745
  # The ZFB predictor is GD from 0 with preconditioner Gamma, normalised by M.
  pred = lambda b: theory.gd_init_predict(b["x"], b["y"], b["xq"], jnp.zeros(5), g)
  for m, scale in ((20, None), (10, None), (20, 2.0)):
    sample = lambda k, bs, m=m, scale=scale: task.sample(k, bs, context_len=m,
                                                         covariate_scale=scale)
    mean, se = theory.mc_risk(pred, sample, key(9), 60_000, 5000)
    check(mean, se, theory.zfb_risk(g, lam * (scale or 1.0), m), (m, scale))


def test_von_oswald_construction_is_one_gd_step_from_w0():
  d, n, eta = 5, 8, 0.7
  b = RegressionTask(dim=d, context_len=n, prior_mean=0.3).sample(key(10), 32)
  w0 = jnp.linspace(-0.5, 0.5, d)
  w = theory.von_oswald_gd_weights(d, eta, n, w0)
  zq = jnp.concatenate([b["xq"], -(b["xq"] @ w0)[:, None]], -1)
  e = jnp.concatenate([jnp.concatenate([b["x"], b["y"][..., None]], -1), zq[:, None]], 1)
  out = theory.von_oswald_layer(e, w, n)
  np.testing.assert_allclose(-out[:, n, d],
                             theory.gd_init_predict(b["x"], b["y"], b["xq"], w0, eta),
                             rtol=1e-4, atol=1e-5)
  # Every context token's label moves by the same step: y_j - eta h(w0)^T x_j.
  h = jnp.einsum("bnd,bn->bd", b["x"], b["y"] - b["x"] @ w0) / n
  np.testing.assert_allclose(out[:, :n, d], b["y"] - eta * jnp.einsum("bnd,bd->bn", b["x"], h),
                             rtol=1e-4, atol=1e-5)


def test_sensitivity_cosine():
  g = jax.random.normal(key(11), (50, 4))
  assert float(theory.sensitivity_cosine(g, 3 * g)) == pytest.approx(1.0, abs=1e-6)
  assert float(theory.sensitivity_cosine(g, -g)) == pytest.approx(-1.0, abs=1e-6)
