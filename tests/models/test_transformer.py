"""Transformer: each attention kind against an independent jnp re-computation, a
2-layer pre-LN + MLP + rotary model against a numpy re-implementation, causality, logit bounds (qk-norm, soft-cap), σReparam, rotary, the Param-only contract."""

import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax import nnx

from icl import losses
from icl.models import MODELS
from icl.models import sigma_reparam
from icl.models import transformer
from icl.models.intermediates import AttnLogits, AttnWeights, ValueStates

VOCAB, LENGTH = 11, 7


class _Task:
  vocab_size = VOCAB
  seq_len = LENGTH


def _build(**options):
  config = ml_collections.ConfigDict({"name": "transformer", **options})
  return MODELS["transformer"](config, _Task(), nnx.Rngs(0))


def _run(model, tokens, *capture):
  """The jitted forward pass (one compile per model; eager op-by-op is slower)."""
  graphdef, params = nnx.split(model, nnx.Param)
  fn = jax.jit(lambda p, t: nnx.capture(nnx.merge(graphdef, p), *capture)({"tokens": t}))
  return fn(params, tokens)


def _tokens(seed=0, batch=2):
  # numpy draws: no PRNG kernels to compile in the tests' inputs
  return jnp.asarray(np.random.default_rng(seed).integers(0, VOCAB, (batch, LENGTH)))


def _reference_one_layer(model, tokens, kind, opts):
  """The 1-layer, no-LN, residual transformer written out with plain jnp."""
  p = nnx.state(model, nnx.Param)
  e = np.asarray(p["embed"][...])
  h = e[tokens] + np.asarray(p["pos_embed"][...])[:LENGTH]
  attn = p["blocks"][0]["attn"]
  heads, dh = opts["num_heads"], opts["d_model"] // opts["num_heads"]
  proj = lambda name: (h @ np.asarray(attn[name]["kernel"][...])).reshape(
      *h.shape[:2], heads, dh)
  q, k, v = proj("query"), proj("key"), proj("value")
  if opts.get("short_conv"):  # y_t = Σ_s c_s ⊙ x_{t-s}, written as a loop over t and s
    def conv(x, name):
      c = np.asarray(attn[name][...]).reshape(-1, heads, dh)
      return np.stack([sum(c[s] * x[:, t - s] for s in range(len(c)) if t - s >= 0)
                       for t in range(LENGTH)], axis=1)
    q, k, v = conv(q, "conv_q"), conv(k, "conv_k"), conv(v, "conv_v")
  if kind == "linear" and opts.get("feature_map") == "elu1":
    q, k = np.where(q > 0, q + 1, np.exp(q)), np.where(k > 0, k + 1, np.exp(k))
  s = np.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(dh)
  visible = np.arange(LENGTH)[None, :] <= np.arange(LENGTH)[:, None]
  i = np.arange(1, LENGTH + 1)[:, None]
  if kind == "softmax":
    e_s = np.where(visible, np.exp(s - s.max(-1, keepdims=True)), 0.0)
    w = e_s / e_s.sum(-1, keepdims=True)
  elif kind == "linear":
    w = np.where(visible, s, 0.0)
    if opts.get("linear_normalizer") == "sum":
      w = w / (w.sum(-1, keepdims=True) + 1e-6)
  elif kind == "sigmoid":
    b = opts["sigmoid_bias"]
    w = np.where(visible, 1 / (1 + np.exp(-(s + b))), 0.0)
  elif kind == "relu":
    w = np.where(visible, np.maximum(s, 0.0), 0.0) / i
  out = np.einsum("bhqk,bkhd->bqhd", w, v).reshape(*h.shape[:2], heads * dh)
  h = h + out @ np.asarray(attn["out"]["kernel"][...])
  value_norms = np.sqrt((v ** 2).sum(-1)).transpose(0, 2, 1)  # |v_k| per head [B, H, T]
  return h @ np.asarray(p["readout"][...]), w, value_norms


KINDS = [
    ("softmax", {}),
    ("linear", {}),
    ("linear", {"feature_map": "elu1", "linear_normalizer": "sum"}),
    ("sigmoid", {"sigmoid_bias": -math.log(LENGTH)}),
    ("relu", {}),
    ("linear", {"short_conv": 3}),
    ("softmax", {"short_conv": 2}),
]


# Query rows per attention block: one block at T = 7 (the default, 64), and blocks
# of 3, 3 and 1 rows (transformer.Attention._attend_in_blocks, used for T > 64).
BLOCKS = [transformer.QUERY_BLOCK, 3]


@pytest.mark.parametrize("query_block", BLOCKS)
@pytest.mark.parametrize("kind,extra", KINDS)
def test_attention_kind_matches_formula(kind, extra, query_block, monkeypatch):
  monkeypatch.setattr(transformer, "QUERY_BLOCK", query_block)
  opts = {"d_model": 8, "num_heads": 2, "num_layers": 1, "norm": "none", **extra}
  model = _build(attention=kind, **opts)
  tokens = _tokens()
  logits, weights, logit_state, values = _run(
      model, tokens, AttnWeights, AttnLogits, ValueStates)
  want_logits, want_weights, want_norms = _reference_one_layer(
      model, np.asarray(tokens), kind, opts)
  np.testing.assert_allclose(logits, want_logits, rtol=1e-4, atol=1e-5)
  sown = weights["blocks"][0]["attn"]["attn_weights"].get_value()[0]
  np.testing.assert_allclose(sown, want_weights, rtol=1e-4, atol=1e-6)
  norms = values["blocks"][0]["attn"]["value_norms"].get_value()[0]
  assert norms.shape == (2, 2, LENGTH)
  np.testing.assert_allclose(norms, want_norms, rtol=1e-4, atol=1e-6)
  masked = logit_state["blocks"][0]["attn"]["attn_logits"].get_value()[0]
  assert np.all(np.isneginf(np.asarray(masked)[..., np.triu_indices(LENGTH, 1)[0],
                                               np.triu_indices(LENGTH, 1)[1]]))


def _layer_norm(x, p, eps=1e-6):
  """LayerNorm over the last axis with the module's scale and bias (flax's epsilon)."""
  mean = x.mean(-1, keepdims=True)
  var = ((x - mean) ** 2).mean(-1, keepdims=True)
  return (x - mean) / np.sqrt(var + eps) * np.asarray(p["scale"][...]) + np.asarray(
      p["bias"][...])


def _rotate(x, base):
  """Rotary embedding as complex rotation: channel m and m + d/2 form z = a + ib,
  and position t multiplies z by exp(i t base^(-2m/d)). x [B, T, H, d]."""
  half = x.shape[-1] // 2
  theta = base ** (-2.0 * np.arange(half) / x.shape[-1])
  z = (x[..., :half] + 1j * x[..., half:]) * np.exp(
      1j * np.arange(x.shape[1])[None, :, None, None] * theta)
  return np.concatenate([z.real, z.imag], axis=-1)


def _reference_pre_ln(model, tokens, opts):
  """A pre-LN softmax transformer with ReLU MLPs, rotary positions and a final LN,
  written out with plain numpy (float64) from the module's parameters."""
  p = nnx.state(model, nnx.Param)
  kernel = lambda layer: np.asarray(layer["kernel"][...], np.float64)
  heads, dh = opts["num_heads"], opts["d_model"] // opts["num_heads"]
  h = np.asarray(p["embed"][...], np.float64)[tokens]  # rotary: no position embedding
  visible = np.arange(LENGTH)[None, :] <= np.arange(LENGTH)[:, None]
  for block in p["blocks"].values():
    attn = block["attn"]
    x = _layer_norm(h, block["attn_norm"])
    split = lambda y: y.reshape(*y.shape[:2], heads, dh)
    q = _rotate(split(x @ kernel(attn["query"])), opts["rope_base"])
    k = _rotate(split(x @ kernel(attn["key"])), opts["rope_base"])
    v = split(x @ kernel(attn["value"]))
    s = np.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(dh)
    e_s = np.where(visible, np.exp(s - np.where(visible, s, -np.inf).max(-1, keepdims=True)),
                   0.0)
    w = e_s / e_s.sum(-1, keepdims=True)
    mixed = np.einsum("bhqk,bkhd->bqhd", w, v).reshape(*h.shape[:2], heads * dh)
    h = h + mixed @ kernel(attn["out"])
    x = _layer_norm(h, block["mlp_norm"])
    h = h + np.maximum(x @ kernel(block["mlp"]["up"]), 0.0) @ kernel(block["mlp"]["down"])
  return _layer_norm(h, p["final_norm"]) @ np.asarray(p["readout"][...], np.float64)


@pytest.mark.parametrize("query_block", BLOCKS)
def test_two_layer_pre_ln_mlp_rotary_matches_reference(query_block, monkeypatch):
  """2 layers, pre-LN, MLP, rotary, 2 heads: logits against _reference_pre_ln. The
  LayerNorm scales and biases are randomised first (at init they are 1 and 0, which a
  model that skipped them would also match)."""
  monkeypatch.setattr(transformer, "QUERY_BLOCK", query_block)
  opts = {"d_model": 16, "num_heads": 2, "num_layers": 2, "norm": "pre", "mlp": True,
          "positions": "rotary", "rope_base": 100.0}
  model = _build(attention="softmax", **opts)
  rng = np.random.default_rng(1)
  norms = [model.final_norm] + [n for b in model.blocks for n in (b.attn_norm, b.mlp_norm)]
  for norm in norms:
    norm.scale[...] = jnp.asarray(rng.uniform(0.5, 1.5, 16), jnp.float32)
    norm.bias[...] = jnp.asarray(rng.normal(0.0, 0.3, 16), jnp.float32)
  tokens = _tokens()
  logits = _run(model, tokens)
  want = _reference_pre_ln(model, np.asarray(tokens), opts)
  assert np.abs(want).max() > 0.05  # not a vanishing output that anything would match
  np.testing.assert_allclose(logits, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", ["softmax", "linear", "sigmoid", "relu"])
def test_attention_in_blocks_has_the_gradients_of_one_block(kind, monkeypatch):
  """The training loss's gradient with the attention in blocks of 3 query rows equals
  the one-block gradient (2 layers, pre-LN, MLP, qk-norm, soft-cap, rotary, short
  convolution: everything that acts on q, k and v before the blocks split them)."""
  model = _build(attention=kind, d_model=16, num_heads=2, num_layers=2, mlp=True,
                 positions="rotary", qk_norm=True, short_conv=3, softcap=5.0)
  graphdef, params = nnx.split(model, nnx.Param)
  tokens = _tokens(batch=3)
  targets = jnp.roll(tokens, -1, axis=1)

  def grad(query_block):
    monkeypatch.setattr(transformer, "QUERY_BLOCK", query_block)
    def loss(p):
      logits = nnx.capture(nnx.merge(graphdef, p))({"tokens": tokens})
      return jnp.mean(losses.token_cross_entropy(logits, targets))
    return jax.jit(jax.value_and_grad(loss))(params)

  (loss_one, grads_one), (loss_blocks, grads_blocks) = grad(LENGTH), grad(3)
  np.testing.assert_allclose(loss_blocks, loss_one, rtol=1e-6)
  for a, b in zip(jax.tree.leaves(grads_blocks), jax.tree.leaves(grads_one)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6 * float(jnp.abs(b).max()))


@pytest.mark.parametrize("kind", ["softmax", "linear", "sigmoid", "relu"])
def test_causal(kind):
  model = _build(attention=kind, d_model=16, num_heads=2, num_layers=2, mlp=True,
                 positions="rotary", qk_norm=True, short_conv=3)
  tokens = _tokens()
  changed = tokens.at[:, 4].set((tokens[:, 4] + 1) % VOCAB)
  both = _run(model, jnp.concatenate([tokens, changed]))
  a, b = both[:2], both[2:]
  np.testing.assert_allclose(a[:, :4], b[:, :4], atol=1e-6)
  assert not np.allclose(a[:, 4:], b[:, 4:])


def _max_logit(model, tokens):
  _, logits = _run(model, tokens, AttnLogits)
  s = logits["blocks"][0]["attn"]["attn_logits"].get_value()[0]
  return float(jnp.max(jnp.abs(jnp.where(jnp.isfinite(s), s, 0.0))))


def _blow_up_qk(model, factor):
  attn = model.blocks[0].attn
  attn.query.kernel[...] = attn.query.kernel[...] * factor
  attn.key.kernel[...] = attn.key.kernel[...] * factor


def test_qk_norm_and_softcap_bound_the_logits():
  tokens = _tokens()
  plain = _build(d_model=16, num_heads=2, num_layers=1)
  _blow_up_qk(plain, 30.0)
  assert _max_logit(plain, tokens) > 50.0
  normed = _build(d_model=16, num_heads=2, num_layers=1, qk_norm=True)
  _blow_up_qk(normed, 30.0)
  assert _max_logit(normed, tokens) <= math.sqrt(8) + 1e-3  # |q| = |k| = √d_h at init
  capped = _build(d_model=16, num_heads=2, num_layers=1, softcap=5.0)
  _blow_up_qk(capped, 30.0)
  assert 4.0 < _max_logit(capped, tokens) <= 5.0


def test_spectral_norm_and_its_gradient():
  w = jnp.asarray(np.random.default_rng(0).normal(size=(12, 9)), jnp.float32)
  np.testing.assert_allclose(sigma_reparam.spectral_norm(w, 100), jnp.linalg.norm(w, 2),
                             rtol=1e-4)
  u_svd, _, vt = np.linalg.svd(np.asarray(w))
  np.testing.assert_allclose(jax.grad(sigma_reparam.spectral_norm)(w, 100),
                             np.outer(u_svd[:, 0], vt[0]), atol=1e-3)


def test_sigma_reparam_layer():
  layer = sigma_reparam.Linear(16, 24, rngs=nnx.Rngs(0), sigma_reparam=True, power_iters=100)
  np.testing.assert_allclose(jnp.linalg.norm(layer.weight(), 2), 1.0, rtol=1e-4)  # γ = 1
  layer.gamma[...] = jnp.asarray(3.0)
  np.testing.assert_allclose(jnp.linalg.norm(layer.weight(), 2), 3.0, rtol=1e-4)
  x = jnp.ones((2, 16))
  np.testing.assert_allclose(layer(x), x @ layer.weight(), rtol=1e-6)
  same = sigma_reparam.Linear(16, 24, rngs=nnx.Rngs(0), sigma_reparam=True,
                              power_iters=100, gamma_init="sigma")
  np.testing.assert_allclose(same.weight(), same.kernel[...], rtol=1e-4, atol=1e-6)


def test_rotary_scores_depend_on_offset_only():
  """The same q and k at every position: after rotary, the score of query i and key j
  is (q1·k1 + q2·k2) cos((i-j)θ_m) + (q1·k2 - q2·k1) sin((i-j)θ_m) summed over the
  frequency pairs m (channels m and m + d/2, θ_m = base^(-2m/d)): a function of the
  offset only, and a different one at each offset (an identity rotary gives the same
  q·k everywhere)."""
  dim, length, base = 8, 6, 100.0
  q, k = np.random.default_rng(0).normal(size=(2, dim)).astype(np.float32)
  rq = transformer.rotary(jnp.broadcast_to(q, (1, length, 1, dim)), base)
  rk = transformer.rotary(jnp.broadcast_to(k, (1, length, 1, dim)), base)
  s = np.asarray(jnp.einsum("bqhd,bkhd->qk", rq, rk), np.float64)
  half = dim // 2
  theta = base ** (-2.0 * np.arange(half) / dim)
  q1, q2, k1, k2 = q[:half], q[half:], k[:half], k[half:]
  for offset in range(-(length - 1), length):  # diagonal `offset`: j - i = offset
    want = np.sum((q1 * k1 + q2 * k2) * np.cos(-offset * theta)
                  + (q1 * k2 - q2 * k1) * np.sin(-offset * theta))
    np.testing.assert_allclose(np.diagonal(s, offset), want, rtol=1e-5, atol=1e-5)
  # Position 0 is not rotated, and rotations keep every vector's norm.
  np.testing.assert_allclose(rq[0, 0, 0], q, rtol=1e-6)
  np.testing.assert_allclose(jnp.linalg.norm(rq, axis=-1), np.linalg.norm(q), rtol=1e-5)


def test_params_only_and_output_heads():
  model = _build(d_model=8, num_layers=1, sigma_reparam=True, qk_norm=True,
                 attention="sigmoid", mlp=True, sigmoid_bias_learnable=False)
  logits = _run(model, _tokens())  # nnx.split(model, nnx.Param) raises on non-Param state
  assert logits.shape == (2, LENGTH, VOCAB)
  plain = _build(d_model=8, num_layers=1, norm="none", positions="none")
  plain({"tokens": _tokens()})  # a bare call (outside capture) ...
  nnx.split(plain, nnx.Param)  # ... leaves no Intermediate state behind

  class Multi(_Task):
    output_heads = 3
  config = ml_collections.ConfigDict({"name": "transformer", "d_model": 8})
  multi = MODELS["transformer"](config, Multi(), nnx.Rngs(0))
  assert _run(multi, _tokens()).shape == (2, LENGTH, 3, VOCAB)
  with pytest.raises(ValueError, match="model.attention"):
    _build(attention="cosine")
  with pytest.raises(ValueError, match="model.short_conv=-1 is not allowed"):
    _build(short_conv=-1)


def test_short_conv_shifts_by_one():
  """Kernel (0, 1) is an exact shift: position t reads x_{t-1}, position 0 reads 0."""
  x = jnp.asarray(np.random.default_rng(0).normal(size=(2, LENGTH, 3)), jnp.float32)
  shifted = transformer.short_conv(x, jnp.array([[0.0] * 3, [1.0] * 3]))
  np.testing.assert_array_equal(shifted[:, 1:], x[:, :-1])
  np.testing.assert_array_equal(shifted[:, 0], 0.0)


def test_z_loss():
  logits = jnp.asarray(np.random.default_rng(0).normal(size=(2, 3, 5)), jnp.float32)
  mask = jnp.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
  log_z = np.log(np.exp(np.asarray(logits)).sum(-1))
  np.testing.assert_allclose(losses.z_loss(logits, mask),
                             (log_z ** 2 * np.asarray(mask)).sum() / 3, rtol=1e-5)
