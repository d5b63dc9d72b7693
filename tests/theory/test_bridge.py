"""Bridge from merged weights to reduced numbers (theory/bridge.py)."""

import jax.numpy as jnp
import numpy as np
import pytest

import theory


def test_hand_built_weights():
  d, L, s2 = 5, 40, 0.1
  D = d + 1
  omegas = np.array([0.13, -0.13, 0.0])
  mus = np.array([3.4, -3.3, 0.5])
  w_kq = np.zeros((3, D, D), np.float32)
  w_ov = np.zeros((3, D), np.float32)
  for h in range(2):
    w_kq[h, :d, :d] = omegas[h] * np.eye(d)
    w_ov[h, -1] = mus[h]
  w_kq[2, :d, :d] = np.triu(np.ones((d, d)), 1)  # off-diagonal: a dummy head
  w_ov[2, -1] = mus[2]
  w_kq[:, :, -1] = 7.0  # the never-trained query-label column is ignored
  out = theory.reduced_params(jnp.asarray(w_kq), jnp.asarray(w_ov), d, L, s2)
  np.testing.assert_allclose(out["omega"], omegas, atol=1e-7)
  np.testing.assert_allclose(out["mu"], mus, rtol=1e-6)
  np.testing.assert_allclose(out["diag_ratio"], [1.0, 1.0, 0.0], atol=1e-6)
  assert out["dummy"].tolist() == [False, False, True]
  eta = 0.13 * 3.4 + 0.13 * 3.3
  assert float(out["eta"]) == pytest.approx(eta, rel=1e-6)
  assert float(out["mu_sum"]) == pytest.approx(0.6, rel=1e-5)
  expected = theory.reduced_loss(jnp.asarray(omegas[:2]), jnp.asarray(mus[:2]), d, L, s2)
  assert float(out["reduced_loss"]) == pytest.approx(float(expected), rel=1e-6)


def test_single_head_optimum_round_trip():
  d, L, s2 = 5, 40, 0.1
  w, mu, loss = theory.single_head_optimum(d, L, s2)
  w_kq = jnp.zeros((1, d + 1, d + 1)).at[0, :d, :d].set(w * jnp.eye(d))
  w_ov = jnp.zeros((1, d + 1)).at[0, -1].set(mu)
  out = theory.reduced_params(w_kq, w_ov, d, L, s2)
  assert float(out["reduced_loss"]) == pytest.approx(loss, rel=1e-5)
  assert float(out["eta"]) == pytest.approx(w * mu, rel=1e-6)
