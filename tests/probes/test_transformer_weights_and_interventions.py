"""Merged per-head weights of the transformer (icl/probes/weights.py) by hand from the
kernels and against the model's own scores and outputs; head interventions
(icl/probes/interventions.py): 'uniform' on the one-layer model against the formula,
and the transformer's heads."""

import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax import nnx

from configs import mqar
from configs.regression import get_config
from icl.models import MODELS
from icl.models.intermediates import AttnLogits, AttnWeights
from icl.probes import interventions, weights
from icl.train import core

VOCAB, LENGTH, D, H = 11, 6, 8, 2
DH = D // H


class _Task:
  vocab_size = VOCAB
  seq_len = LENGTH


def build(**options):
  config = ml_collections.ConfigDict({"name": "transformer", "d_model": D, "num_heads": H,
                                      "norm": "none", "embed_init_std": 1.0, **options})
  return MODELS["transformer"](config, _Task(), nnx.Rngs(0))


def pure(model):
  return nnx.to_pure_dict(nnx.state(model, nnx.Param))


def forward(model, toks, *capture):
  graphdef, params = nnx.split(model, nnx.Param)
  fn = jax.jit(lambda p, t: nnx.capture(nnx.merge(graphdef, p), *capture)({"tokens": t}))
  return fn(params, toks)


TOKENS = np.random.default_rng(0).integers(0, VOCAB, (2, LENGTH))


def kernel(layer, name):
  return np.asarray(layer[name]["kernel"], np.float64)


def test_merged_weights_are_the_per_head_kernel_products():
  """W_KQ^h = K_h^T Q_h / sqrt(d_h) and W_OV^h = (O_h V_h)^T with Q_h, K_h, V_h the
  head's d_h x D blocks (rows h*d_h .. of the PyTorch-layout weight, i.e. columns of
  the kernel) and O_h the D x d_h block of the output weight; every layer."""
  model = build(num_layers=2)
  params = pure(model)
  merged = weights.merged_weights("transformer", params, H)
  assert sorted(merged) == ["l0", "l1"]
  for name, block in zip(("l0", "l1"), params["blocks"].values()):
    attn = block["attn"]
    w_kq, w_ov = merged[name]
    assert w_kq.shape == (H, D, D) and w_ov.shape == (H, D, D)
    for h in range(H):
      cols = slice(h * DH, (h + 1) * DH)
      q_h = kernel(attn, "query")[:, cols].T  # [d_h, D]: q = Q_h x
      k_h = kernel(attn, "key")[:, cols].T
      v_h = kernel(attn, "value")[:, cols].T
      o_h = kernel(attn, "out")[cols, :].T  # [D, d_h]: out = O_h (head output)
      np.testing.assert_allclose(w_kq[h], k_h.T @ q_h / math.sqrt(DH), rtol=1e-5, atol=1e-7)
      np.testing.assert_allclose(w_ov[h], (o_h @ v_h).T, rtol=1e-5, atol=1e-7)
  # Each layer is read from its own kernels.
  assert not np.allclose(merged["l0"][0], merged["l1"][0])


def test_merged_weights_give_the_scores_and_the_head_outputs():
  """Score s_qk = x_k^T W_KQ^h x_q (the sown logits) and, without residual, the layer
  output is sum_h sum_k a_qk x_k^T W_OV^h, read out by W_out."""
  model = build(num_layers=1, residual=False)
  params = pure(model)
  (w_kq, w_ov), = weights.merged_weights("transformer", params, H).values()
  w_kq, w_ov = np.asarray(w_kq, np.float64), np.asarray(w_ov, np.float64)
  logits, sown_w, sown_s = forward(model, TOKENS, AttnWeights, AttnLogits)
  x = np.asarray(params["embed"], np.float64)[TOKENS] + np.asarray(params["pos_embed"])
  s = np.einsum("bkd,hde,bqe->bhqk", x, w_kq, x)
  got = np.asarray(sown_s["blocks"][0]["attn"]["attn_logits"].get_value()[0])
  visible = np.tril(np.ones((LENGTH, LENGTH), bool))
  np.testing.assert_allclose(got[..., visible], s[..., visible], rtol=1e-4, atol=1e-5)
  a = np.asarray(sown_w["blocks"][0]["attn"]["attn_weights"].get_value()[0], np.float64)
  out = np.einsum("bhqk,bkd,hde->bqe", a, x, w_ov)
  np.testing.assert_allclose(logits, out @ np.asarray(params["readout"]), rtol=1e-4,
                             atol=1e-6)


def test_merged_weights_use_the_sigma_reparam_effective_kernel():
  """With sigma_reparam, W -> (gamma / sigma(W)) W with the exact spectral norm."""
  model = build(num_layers=1, sigma_reparam=True)
  model.blocks[0].attn.query.gamma[...] = jnp.asarray(2.5)
  model.blocks[0].attn.key.gamma[...] = jnp.asarray(0.5)
  params = pure(model)
  (w_kq, _), = weights.merged_weights("transformer", params, H).values()
  attn = params["blocks"][0]["attn"]
  eff = lambda name, g: g / np.linalg.norm(kernel(attn, name), 2) * kernel(attn, name)
  q, k = eff("query", 2.5), eff("key", 0.5)
  for h in range(H):
    cols = slice(h * DH, (h + 1) * DH)
    np.testing.assert_allclose(w_kq[h], k[:, cols] @ q[:, cols].T / math.sqrt(DH),
                               rtol=1e-4, atol=1e-6)
  # ... and they give the model's scores (its sigma is a 16-step power iteration).
  _, sown = forward(model, TOKENS, AttnLogits)
  x = np.asarray(params["embed"], np.float64)[TOKENS] + np.asarray(params["pos_embed"])
  s = np.einsum("bkd,hde,bqe->bhqk", x, np.asarray(w_kq, np.float64), x)
  got = np.asarray(sown["blocks"][0]["attn"]["attn_logits"].get_value()[0])
  visible = np.tril(np.ones((LENGTH, LENGTH), bool))
  np.testing.assert_allclose(got[..., visible], s[..., visible], rtol=1e-3, atol=1e-4)


# --- interventions ----------------------------------------------------------------


def regression_batch(task, batch_size, seed=0):
  """A regression prompt drawn with numpy (y = x beta + noise)."""
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(batch_size, task.context_len + 1, task.dim))
  beta = rng.normal(size=(batch_size, task.dim)) / math.sqrt(task.dim)
  y = np.einsum("bld,bd->bl", x, beta) + 0.3 * rng.normal(size=x.shape[:2])
  f32 = lambda a: jnp.asarray(a, jnp.float32)
  return {"x": f32(x[:, :-1]), "y": f32(y[:, :-1]), "xq": f32(x[:, -1]), "yq": f32(y[:, -1])}


def one_layer_reference(params, batch, uniform_heads=()):
  """yhat = sum_h O_h V_h Z a_h, a_h = softmax(Z^T K_h^T Q_h z_q / sqrt(D)), except
  a_h = 1/L (uniform over the context) for the heads in `uniform_heads`."""
  q, k, v, o = (np.asarray(params[n], np.float64) for n in ("query", "key", "value", "out"))
  x, y, xq = (np.asarray(batch[n], np.float64) for n in ("x", "y", "xq"))
  z = np.concatenate([x, y[..., None]], -1)  # [B, L, D]
  zq = np.concatenate([xq, np.zeros((len(xq), 1))], -1)
  width, pred = q.shape[-1], np.zeros(len(x))
  for h in range(q.shape[0]):
    s = np.einsum("bld,ed,ef,bf->bl", z, k[h], q[h], zq) / math.sqrt(width)
    a = np.exp(s - s.max(-1, keepdims=True))
    a /= a.sum(-1, keepdims=True)
    if h in uniform_heads:
      a = np.full_like(a, 1.0 / z.shape[1])
    pred += np.einsum("i,ij,blj,bl->b", o[h, 0], v[h], z, a)
  return pred


def test_uniform_intervention_makes_one_heads_attention_uniform():
  exp = core.Experiment.from_config(get_config("tiny"))
  params = jax.jit(exp.init_params)(jax.random.key(0))
  params = {**params, "query": params["query"] * 4.0}  # far from uniform before
  batch = regression_batch(exp.task, 16)
  apply = jax.jit(lambda p, b: exp.apply(p, b, AttnWeights))
  pred, sown = apply(params, batch)
  np.testing.assert_allclose(pred, one_layer_reference(params, batch), rtol=1e-4, atol=1e-5)
  before = np.asarray(jax.tree.leaves(sown)[0])[:, 1, 0]  # head 1 [B, L]
  assert before.max() > 3.0 / exp.task.context_len

  edited = interventions.uniform_attention(params, 1)
  np.testing.assert_array_equal(edited["query"][0], params["query"][0])  # head 0 kept
  for name in ("key", "value", "out"):
    np.testing.assert_array_equal(edited[name], params[name])
  pred, sown = apply(edited, batch)
  w = np.asarray(jax.tree.leaves(sown)[0])  # [B, H, 1, L]
  np.testing.assert_allclose(w[:, 1], 1.0 / exp.task.context_len, rtol=1e-6)
  np.testing.assert_allclose(pred, one_layer_reference(params, batch, uniform_heads=(1,)),
                             rtol=1e-4, atol=1e-5)


def test_uniform_head_loss_changes_are_the_edited_models_losses():
  """head_loss_changes(kind='uniform'): per head, the loss of the model with that head
  uniform on the same prompts, and rel_change = (edited - base) / base."""
  exp = core.Experiment.from_config(get_config("tiny"))
  params = jax.jit(exp.init_params)(jax.random.key(0))
  params = {**params, "query": params["query"] * 4.0, "out": params["out"] * 3.0}
  key, n = jax.random.key(3), 512
  r = interventions.head_loss_changes(exp, params, key, "uniform", n)
  loss = jax.jit(lambda p: exp.eval_loss(p, key, n, n)["loss"])
  base = float(loss(params))
  edited = [float(loss(interventions.uniform_attention(params, h))) for h in range(2)]
  assert r["loss"] == pytest.approx(base, rel=1e-5)
  np.testing.assert_allclose(r["loss_edited"], edited, rtol=1e-5)
  np.testing.assert_allclose(r["rel_change"], (np.array(edited) - base) / base, rtol=1e-4,
                             atol=1e-6)
  assert min(abs(e - base) for e in edited) > 1e-3 * base  # each head's edit matters
  ablated = interventions.head_loss_changes(exp, params, key, "ablate", n)
  assert not np.allclose(ablated["loss_edited"], r["loss_edited"])


def test_ablating_a_transformer_head_zeroes_its_rows_of_the_output_projection():
  """head_loss_changes on ('blocks', 0, 'attn'): per head, the loss of the model with
  that head's d_h rows of W_o zeroed by hand, on the same prompts."""
  config = mqar.get_config("tiny")
  config.model.num_heads = 2
  exp = core.Experiment.from_config(config)
  params = jax.jit(exp.init_params)(jax.random.key(0))
  path = ("blocks", 0, "attn")
  key, n = jax.random.key(1), 64
  r = interventions.head_loss_changes(exp, params, key, "ablate", n, layer_path=path)
  dh = config.model.d_model // 2
  loss = jax.jit(lambda p: exp.eval_loss(p, key, n, n)["loss"])
  for h in range(2):
    kern = params["blocks"][0]["attn"]["out"]["kernel"]
    zeroed = jax.tree.map(lambda a: a, params)
    zeroed["blocks"][0]["attn"]["out"]["kernel"] = kern.at[h * dh:(h + 1) * dh].set(0.0)
    assert float(r["loss_edited"][h]) == pytest.approx(float(loss(zeroed)), rel=1e-5)
  base = float(loss(params))
  assert r["loss"] == pytest.approx(base, rel=1e-5)
  assert min(abs(float(e) - base) for e in r["loss_edited"]) > 1e-6 * base


def _transformer(**model):
  config = mqar.get_config("tiny")
  config.model.num_heads = 2
  config.model.update(model)
  exp = core.Experiment.from_config(config)
  return config, exp, jax.jit(exp.init_params)(jax.random.key(0))


def test_uniform_on_a_transformer_head_makes_its_causal_attention_uniform():
  """Q_h = 0 in layer 0: head h's weights are 1 / (q + 1) over the q + 1 visible
  keys of query q; the other head's weights and the other layer's inputs before it
  are untouched; with RoPE too (a rotated zero is zero)."""
  for positions in ("learned", "rotary"):
    config, exp, params = _transformer(positions=positions)
    path = ("blocks", 0, "attn")
    q = params["blocks"][0]["attn"]["query"]["kernel"]
    params["blocks"][0]["attn"]["query"]["kernel"] = q * 8.0  # far from uniform
    batch = exp.task.sample(jax.random.key(2), 4)
    apply = jax.jit(lambda p: exp.apply(p, batch, AttnWeights)[1])
    before = apply(params)
    edited = interventions.uniform_attention(params, 1, path, num_heads=2)
    after = apply(edited)
    w0 = [np.asarray(v) for v in jax.tree.leaves(before)]
    w1 = [np.asarray(v) for v in jax.tree.leaves(after)]
    layer0_before, layer0_after = w0[0], w1[0]  # [B, H, T, T], layer 0 first
    t = layer0_after.shape[-1]
    expected = np.tril(np.ones((t, t))) / np.arange(1, t + 1)[:, None]
    assert np.abs(layer0_before[:, 1] - expected).max() > 0.1, positions
    np.testing.assert_allclose(layer0_after[:, 1], np.broadcast_to(expected,
                               layer0_after[:, 1].shape), rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(layer0_after[:, 0], layer0_before[:, 0])


@pytest.mark.parametrize("model, kind, match", [
    ({"qk_norm": True}, "uniform", "qk-norm"),
    ({"sigma_reparam": True}, "ablate", "σReparam"),
    ({"sigma_reparam": True}, "uniform", "σReparam"),
    ({"attention": "linear"}, "uniform", "softmax attention"),
])
def test_transformer_interventions_that_would_not_isolate_a_head_are_refused(
    model, kind, match):
  _, exp, params = _transformer(**model)
  with pytest.raises(ValueError, match=match):
    interventions.head_loss_changes(exp, params, jax.random.key(1), kind, 64,
                                    layer_path=("blocks", 0, "attn"))
