"""The LSA-vs-GD probes (icl/probes/gd_alignment.py) on hand-made weights: von Oswald
et al.'s GD construction and the exact one-head y_q-LSA (docs/linear_gd.md, "Probes")."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import theory
from configs.linear_gd import get_config
from icl.probes import recording
from icl.train import core


def experiment(arg):
  exp = core.Experiment.from_config(get_config(arg))
  params = exp.init_params(jax.random.key(0))
  return exp, params


def test_von_oswald_construction_reads_gamma_star_and_cosine_one():
  """t4 data, isotropic: Gamma* = g I; the construction with eta = g is that GD."""
  exp, params = experiment("t4,tiny")
  task = exp.task
  mu = jnp.zeros(task.dim)
  cov = jnp.asarray(task.covariance_matrix(), jnp.float32)
  g = float(theory.lgd_optimal_preconditioner(cov, task.context_len, task.prior_scale**2 / task.dim,
                                             task.noise_var)[0, 0])
  w = theory.von_oswald_gd_weights(task.dim, g, task.context_len, mu)
  layer = params["layers"][0]
  for name in ("query", "key", "value", "proj"):
    layer[name] = w[name][None]
  out = jax.device_get(recording.compute(exp.probe_context(), params))
  assert out["gamma_scale"] == pytest.approx(g, rel=1e-5)
  assert out["gamma_offdiag"] == pytest.approx(0.0, abs=1e-6)
  assert out["gamma_rel_err"] == pytest.approx(0.0, abs=1e-5)
  assert out["sens_cos"] == pytest.approx(1.0, abs=1e-5)
  assert out["pred_diff"] == pytest.approx(0.0, abs=1e-4)
  assert out["eta"] == pytest.approx(g / task.context_len, rel=1e-4)  # no 1/n inside


def test_exact_yq_lsa_reads_theta_equal_mu():
  """One merged head p = (-mu, 1), KQ = [[Gamma*, 0], [0, 0]], theta = mu: GD from mu."""
  exp, params = experiment("t8,tiny")
  task = exp.task
  d = task.dim
  mu = jnp.full(d, task.prior_mean)
  cov = jnp.eye(d)
  gstar = theory.lgd_optimal_preconditioner(cov, task.context_len, 1 / d, task.noise_var)
  layer = params["layers"][0]
  layer["kq"] = jnp.zeros((1, d + 1, d + 1)).at[0, :d, :d].set(gstar)
  layer["pv"] = jnp.zeros((1, d + 1, d + 1)).at[0, d, :d].set(-mu).at[0, d, d].set(1.0)
  params["theta"] = mu
  out = jax.device_get(recording.compute(exp.probe_context(), params))
  assert out["theta_proj"] == pytest.approx(1.0, abs=1e-6)
  assert out["theta_err"] == pytest.approx(0.0, abs=1e-6)
  assert out["gamma_rel_err"] == pytest.approx(0.0, abs=1e-5)
  assert out["sens_cos"] == pytest.approx(1.0, abs=1e-5)
  assert out["pred_diff"] == pytest.approx(0.0, abs=1e-4)
  # A wrong theta is seen: half of mu.
  params["theta"] = 0.5 * mu
  out = jax.device_get(recording.compute(exp.probe_context(), params))
  assert out["theta_proj"] == pytest.approx(0.5, abs=1e-6)
  assert out["pred_diff"] > 0.05
  np.testing.assert_allclose(out["theta_err"], 0.5, rtol=1e-5)
