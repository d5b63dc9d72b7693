"""Predictors (theory/predictors.py): exact identities, no Monte Carlo."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import theory
from icl.tasks.regression import RegressionTask


@pytest.fixture(scope="module")
def batch():
  return RegressionTask(dim=4, context_len=12, noise_var=0.3).sample(jax.random.PRNGKey(0), 8)


def _np(b):
  return {k: np.asarray(v, np.float64) for k, v in b.items()}


def test_ridge_bayes_ols(batch):
  b, n = batch, _np(batch)
  d = n["x"].shape[-1]
  ref = np.stack([n["xq"][i] @ np.linalg.solve(n["x"][i].T @ n["x"][i] + 1.2 * np.eye(d),
                                               n["x"][i].T @ n["y"][i]) for i in range(8)])
  np.testing.assert_allclose(theory.ridge_predict(b["x"], b["y"], b["xq"], 1.2), ref, rtol=1e-4)
  # Bayes with s = 1 is ridge with lambda = d s2; an explicit prior_cov agrees.
  np.testing.assert_allclose(theory.bayes_predict(b["x"], b["y"], b["xq"], 0.3),
                             ref, rtol=1e-4)
  np.testing.assert_allclose(
      theory.bayes_predict(b["x"], b["y"], b["xq"], 0.3, prior_scale=2.0),
      theory.bayes_predict(b["x"], b["y"], b["xq"], 0.3, prior_cov=4.0 * jnp.eye(d) / d),
      rtol=1e-4)
  ols = np.stack([n["xq"][i] @ np.linalg.lstsq(n["x"][i], n["y"][i], rcond=None)[0]
                  for i in range(8)])
  np.testing.assert_allclose(theory.ols_predict(b["x"], b["y"], b["xq"]), ols, rtol=1e-3)
  np.testing.assert_allclose(theory.ridge_predict(b["x"], b["y"], b["xq"], 1e-5), ols,
                             rtol=1e-3)


def test_gd_family(batch):
  b, n = batch, _np(batch)
  L = n["x"].shape[1]
  g = np.einsum("bld,bl->bd", n["x"], n["y"]) / L
  gd = 0.7 * np.einsum("bd,bd->b", g, n["xq"])
  np.testing.assert_allclose(theory.gd_predict(b["x"], b["y"], b["xq"], 0.7), gd, rtol=1e-5)
  yc = n["y"] - n["y"].mean(1, keepdims=True)
  dgd = 0.7 * np.einsum("bld,bl,bd->b", n["x"], yc, n["xq"]) / L
  np.testing.assert_allclose(theory.debiased_gd_predict(b["x"], b["y"], b["xq"], 0.7), dgd,
                             rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(
      theory.preconditioned_gd_predict(b["x"], b["y"], b["xq"], 0.7 * jnp.eye(4)), gd, rtol=1e-5)
  w, mu = jnp.array([0.5, -0.2]), jnp.array([1.0, 1.0])
  np.testing.assert_allclose(theory.linear_attention_predict(b["x"], b["y"], b["xq"], w, mu),
                             0.3 / 0.7 * gd, rtol=1e-5)
  np.testing.assert_allclose(
      theory.linear_attention_predict(b["x"], b["y"], b["xq"], w, mu, n=2 * L),
      0.15 / 0.7 * gd, rtol=1e-5)


def test_kernel(batch):
  b, n = batch, _np(batch)
  w, mu = np.array([0.4, -0.1]), np.array([1.5, -0.5])
  s = np.einsum("bld,bd->bl", n["x"], n["xq"])
  ref = 0
  for h in range(2):
    a = np.exp(w[h] * s)
    ref = ref + mu[h] * (a * n["y"]).sum(1) / a.sum(1)
  np.testing.assert_allclose(theory.kernel_predict(b["x"], b["y"], b["xq"], w, mu), ref,
                             rtol=1e-4)
  # omega = 0: uniform attention, yhat = mu * ybar.
  np.testing.assert_allclose(
      theory.kernel_predict(b["x"], b["y"], b["xq"], jnp.zeros(1), jnp.array([2.0])),
      2 * n["y"].mean(1), rtol=1e-5)


def test_kernel_pair_tends_to_debiased_gd(batch):
  """Zero-sum pair, mu = eta/(2 omega): yhat = debiased GD + O(omega)."""
  b = batch
  dgd = theory.debiased_gd_predict(b["x"], b["y"], b["xq"], 0.8)
  errs = []
  for w in (0.1, 0.05):
    pair = theory.kernel_predict(b["x"], b["y"], b["xq"], jnp.array([w, -w]),
                                 0.8 / (2 * w) * jnp.array([1.0, -1.0]))
    errs.append(float(jnp.max(jnp.abs(pair - dgd))))
  # Odd terms cancel between +-omega, so the error is O(omega^2): halving omega
  # divides it by ~4.
  assert errs[1] < 0.35 * errs[0]
  assert errs[1] < 0.05


def test_broadcasting_and_vmap(batch):
  b = batch
  f = lambda x, y, xq: theory.kernel_predict(x, y, xq, jnp.array([0.3]), jnp.array([1.0]))
  np.testing.assert_allclose(jax.vmap(f)(b["x"], b["y"], b["xq"]), f(b["x"], b["y"], b["xq"]),
                             rtol=1e-5)
  g = lambda x, y, xq: theory.ridge_predict(x, y, xq, 0.5)
  np.testing.assert_allclose(jax.jit(jax.vmap(g))(b["x"], b["y"], b["xq"]),
                             g(b["x"], b["y"], b["xq"]), rtol=1e-4)
