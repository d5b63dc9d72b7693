"""The GPT-2-style real-valued transformer (icl/models/gpt2.py) against an independent
re-implementation from its params, the two prompt formats, causality (the prediction
with k examples reads nothing after x_k) and GPT-2's initialisation."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from icl import models
from icl.models import gpt2
from icl.tasks.linear import LinearTask

TASK = LinearTask(dim=5, context_len=6)


def _model(**kw):
  cfg = models.MODELS["gpt2"].make_config({"d_model": 16, "num_layers": 2, "num_heads": 2,
                                           **kw})
  return cfg, models.MODELS["gpt2"](cfg, TASK, nnx.Rngs(0))


def _ln(h, p):
  mu = h.mean(-1, keepdims=True)
  var = ((h - mu) ** 2).mean(-1, keepdims=True)
  return (h - mu) / np.sqrt(var + 1e-6) * p["scale"] + p["bias"]


def _reference(params, batch, cfg):
  """numpy float64: interleave, read in, pre-LN softmax blocks with tanh-GELU MLP."""
  p = jax.tree.map(lambda v: np.asarray(v, np.float64), nnx.to_pure_dict(params))
  x, y = np.asarray(batch["x"], np.float64), np.asarray(batch["y"], np.float64)
  b, k, d = x.shape
  if cfg.prompt_format == "raventos":
    x = np.concatenate([np.zeros((b, k, 1)), x], -1)
  z = np.zeros((b, 2 * k, x.shape[-1]))
  z[:, ::2] = x
  z[:, 1::2, 0] = y
  h = z @ p["read_in"] + p.get("read_in_bias", 0) + p["pos_embed"][: 2 * k]
  t, nh = 2 * k, cfg.num_heads
  dh = cfg.d_model // nh
  for blk in p["blocks"].values():
    a = _ln(h, blk["attn_norm"])
    q, kk, v = (a @ blk["attn"][n]["kernel"] for n in ("query", "key", "value"))
    q, kk, v = (m.reshape(b, t, nh, dh) for m in (q, kk, v))
    s = np.einsum("bqhd,bkhd->bhqk", q, kk) / math.sqrt(dh)
    s = np.where(np.tril(np.ones((t, t), bool)), s, -np.inf)
    w = np.exp(s - s.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    h = h + np.einsum("bhqk,bkhd->bqhd", w, v).reshape(b, t, -1) @ blk["attn"]["out"]["kernel"]
    u = _ln(h, blk["mlp_norm"]) @ blk["mlp"]["up"]["kernel"]
    gelu = 0.5 * u * (1 + np.tanh(np.sqrt(2 / np.pi) * (u + 0.044715 * u ** 3)))
    h = h + gelu @ blk["mlp"]["down"]["kernel"]
  h = _ln(h, p["final_norm"])
  return (h[:, ::2] @ p["read_out"])[..., 0] + p.get("read_out_bias", np.zeros(1))[0]


def _perturbed_params(model):
  """Non-zero biases and norms, so the reference checks that they are applied."""
  params = nnx.state(model, nnx.Param)
  leaves, tree = jax.tree.flatten(params)
  keys = jax.random.split(jax.random.key(9), len(leaves))
  leaves = [v + 0.1 * jax.random.normal(k, v.shape) for v, k in zip(leaves, keys)]
  return jax.tree.unflatten(tree, leaves)


@pytest.mark.parametrize("fmt,bias", [("garg", True), ("raventos", False)])
def test_matches_reference(fmt, bias):
  cfg, model = _model(prompt_format=fmt, io_bias=bias)
  graph, _ = nnx.split(model, nnx.Param)
  params = _perturbed_params(model)
  batch = TASK.sample(jax.random.key(1), 3)
  got = models.predict(nnx.merge(graph, params), batch)
  assert got.shape == (3, 6)
  np.testing.assert_allclose(got, _reference(params, batch, cfg), rtol=2e-4, atol=2e-5)


def test_tokens_formats():
  x = jnp.arange(12.0).reshape(1, 2, 6)[..., :3]  # [1, 2, 3]
  y = jnp.array([[7.0, 8.0]])
  z = gpt2.tokens(x, y, "garg")
  np.testing.assert_array_equal(z[0], [[0, 1, 2], [7, 0, 0], [6, 7, 8], [8, 0, 0]])
  z = gpt2.tokens(x, y, "raventos")
  np.testing.assert_array_equal(z[0], [[0, 0, 1, 2], [7, 0, 0, 0], [0, 6, 7, 8],
                                       [8, 0, 0, 0]])


@pytest.mark.parametrize("attention", ["softmax", "linear"])
def test_prediction_with_k_examples_reads_nothing_later(attention):
  _, model = _model(attention=attention)
  batch = TASK.sample(jax.random.key(2), 4)
  base = models.predict(model, batch)
  k = 3
  changed = {"x": batch["x"].at[:, k + 1:].add(1.0), "y": batch["y"].at[:, k:].add(1.0)}
  out = models.predict(model, changed)
  np.testing.assert_allclose(out[:, : k + 1], base[:, : k + 1], rtol=1e-5, atol=1e-6)
  assert not np.allclose(out[:, k + 1:], base[:, k + 1:])


def test_gpt2_init_scales():
  cfg, model = _model(num_layers=4, d_model=64)
  p = nnx.to_pure_dict(nnx.state(model, nnx.Param))
  blk = p["blocks"][0]
  std = lambda w: float(np.std(np.asarray(w)))
  assert abs(std(blk["attn"]["query"]["kernel"]) / 0.02 - 1) < 0.1
  assert abs(std(blk["mlp"]["up"]["kernel"]) / 0.02 - 1) < 0.1
  for w in (blk["attn"]["out"]["kernel"], blk["mlp"]["down"]["kernel"]):
    assert abs(std(w) / (0.02 / math.sqrt(8)) - 1) < 0.1
  bound = 1 / math.sqrt(5)  # Garg's read-in: nn.Linear's U(+-1/sqrt(d))
  assert np.abs(p["read_in"]).max() <= bound and std(p["read_in"]) > 0.8 * bound / math.sqrt(3)
  _, model = _model(io_init="normal", prompt_format="raventos")
  p = nnx.to_pure_dict(nnx.state(model, nnx.Param))
  assert abs(std(p["read_in"]) / 0.02 - 1) < 0.2 and p["read_in"].shape == (6, 16)


def test_config_choices_and_merged_weights():
  with pytest.raises(ValueError, match="prompt_format"):
    gpt2.GPT2Config(prompt_format="nope")
  with pytest.raises(ValueError, match="io_init"):
    gpt2.GPT2Config(io_init="xavier")
  with pytest.raises(ValueError, match="activation"):
    gpt2.GPT2Config(activation="tanh")
  cfg, model = _model()
  layers = models.MODELS["gpt2"].merged_weights(nnx.state(model, nnx.Param), cfg)
  assert sorted(layers) == ["l0", "l1"] and layers["l0"][0].shape == (2, 16, 16)
