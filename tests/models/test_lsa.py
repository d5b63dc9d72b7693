"""The LSA model (icl/models/lsa.py) against the independent formulas of theory/linear_gd.py:
the one-layer prediction yhat0 + s sum_h p_h^T G KQ_h z_q, and von Oswald et al.'s
construction = K steps of GD (docs/linear_gd.md, "The model")."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import theory
from icl import models
from icl.models import lsa
from icl.tasks.regression import RegressionTask

TASK = RegressionTask(dim=4, context_len=6, prior_mean=0.3)


def build(**kw):
  return models.MODELS["lsa"](lsa.LSAConfig(**kw), TASK, nnx.Rngs(0))


def batch(seed=0, num=16):
  return TASK.sample(jax.random.key(seed), num)


def call(model, b):
  return models.predict(model, b)


@pytest.mark.parametrize("kw", [
    dict(num_heads=3), dict(num_heads=2, masked=False), dict(num_heads=2, readout="minus"),
    dict(num_heads=2, guess="constant", guess_value=0.7),
    dict(num_heads=1, guess="given", guess_value=0.3, readout="minus"),
    dict(num_heads=2, param="qkv", init_std=0.5),
    dict(num_heads=2, param="ahn", init_std=0.5, readout="minus")])
def test_one_layer_matches_the_trilinear_formula(kw):
  model = build(init_std=0.3, **kw) if "init_std" not in kw else build(**kw)
  b = batch()
  cfg = model.cfg
  (w_kq, w_ov), = lsa.layer_weights(nnx.state(model, nnx.Param), cfg).values()
  # W_OV = s * p_h, so the formula's p_h is W_OV / s and the slot holds s * yhat0.
  yq0 = model.initial_guess(b["xq"])
  kq, pv = model.layers[0].matrices()
  inner = theory.lsa_predict(b["x"], b["y"], b["xq"], kq, pv[:, -1], cfg.sign * yq0,
                             masked=cfg.masked)
  want = cfg.sign * inner
  np.testing.assert_allclose(call(model, b), want, rtol=2e-4, atol=2e-5)
  np.testing.assert_allclose(w_ov, cfg.sign * pv[:, -1], rtol=1e-6)
  assert w_kq.shape == (cfg.num_heads, 5, 5)


def set_von_oswald(model, eta, n, w0=None):
  w = theory.von_oswald_gd_weights(TASK.dim, eta, n, w0)
  for layer in model.layers:
    for name in ("query", "key", "value", "proj"):
      getattr(layer, name)[...] = w[name][None]


@pytest.mark.parametrize("num_layers,shared", [(1, False), (3, True), (2, False)])
def test_von_oswald_construction_is_k_steps_of_gd(num_layers, shared):
  eta = 0.8
  model = build(num_layers=num_layers, shared=shared, param="qkv", norm="none",
                readout="minus")
  set_von_oswald(model, eta, TASK.context_len)
  b = batch(1)
  np.testing.assert_allclose(
      call(model, b), theory.gd_multistep_predict(b["x"], b["y"], b["xq"], eta, num_layers),
      rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("num_layers", [1, 3])
def test_ahn_class_with_a_minus_eta_identity_is_k_steps_of_gd(num_layers):
  """Ahn et al.'s class, A_l = -eta_l I, B_l = 0, minus readout: the context labels
  become the residuals, the query's slot -w_l^T x_q: K steps of GD (steps eta_l)."""
  etas = (0.8, 0.5, 0.3)[:num_layers]
  model = build(num_layers=num_layers, param="ahn", readout="minus")
  for layer, eta in zip(model.layers, etas):
    layer.ahn_a[...] = -eta * jnp.eye(TASK.dim)[None]
    layer.ahn_b[...] = jnp.zeros_like(layer.ahn_b[...])
  b = batch(3)
  w = jnp.zeros_like(b["xq"])
  for eta in etas:
    w = w + eta * jnp.einsum("bnd,bn->bd", b["x"], b["y"] - jnp.einsum("bnd,bd->bn", b["x"], w)
                             ) / TASK.context_len
  np.testing.assert_allclose(call(model, b), jnp.einsum("bd,bd->b", w, b["xq"]),
                             rtol=1e-4, atol=1e-5)
  if num_layers == 1:
    np.testing.assert_allclose(call(model, b),
                               theory.gd_multistep_predict(b["x"], b["y"], b["xq"], 0.8, 1),
                               rtol=1e-4, atol=1e-5)


def test_given_guess_is_gd_from_w0():
  """The query's slot holds -w0^T x_q and W_V carries w0: one GD step from w0."""
  model = build(param="qkv", norm="none", readout="minus", guess="given", guess_value=0.3)
  w0 = jnp.full(TASK.dim, 0.3)
  set_von_oswald(model, 0.8, TASK.context_len, w0)
  b = batch(2)
  np.testing.assert_allclose(call(model, b),
                             theory.gd_init_predict(b["x"], b["y"], b["xq"], w0, 0.8),
                             rtol=1e-4, atol=1e-5)


def test_trainable_guesses_and_zfb_init():
  theta = build(guess="theta")
  assert theta.theta[...].shape == (TASK.dim,)
  theta.theta[...] = jnp.arange(4.0)
  b = batch(3)
  np.testing.assert_allclose(theta.initial_guess(b["xq"]), b["xq"] @ jnp.arange(4.0))
  assert build(guess="scalar").guess_scalar[...].shape == ()
  zfb = build(init="zfb", init_std=0.1, masked=False)
  kq, pv = zfb.layers[0].matrices()
  assert float(jnp.linalg.norm(kq[0, :4, :4])) == pytest.approx(0.1, rel=1e-6)
  assert float(pv[0, 4, 4]) == pytest.approx(0.1) and float(jnp.abs(pv).sum()) == pytest.approx(0.1)
  with pytest.raises(ValueError, match="guess"):
    lsa.LSAConfig(guess="bogus")
