"""Transformer options against an independent float64 numpy forward pass:
`residual=False`, `tied_embeddings`, `linear_normalizer='position'`, `rope_base`.

The reference is written from the model's docstring (icl/models/transformer.py):
h = E[tokens] (+ P), per block h = h + Attn(h) (+ h + MLP(h)) or, without residual,
h = Attn(h) (h = MLP(h)); logits = h @ W_out or h @ E^T when tied. Rotary positions
are written as complex rotations: the pair (x_i, x_{i + d/2}) is x_i + i x_{i + d/2},
multiplied by exp(i t theta_j) with theta_j = base^(-2j / d_h).
"""

import jax
import ml_collections
import numpy as np
import pytest
from flax import nnx

from icl.models import MODELS
from icl.models.intermediates import AttnWeights

VOCAB, LENGTH = 13, 6


class _Task:
  vocab_size = VOCAB
  seq_len = LENGTH


def build(**options):
  options = {"d_model": 8, "num_heads": 2, "num_layers": 1, "norm": "none", **options}
  config = ml_collections.ConfigDict({"name": "transformer", **options})
  return MODELS["transformer"](config, _Task(), nnx.Rngs(0)), options


def forward(model, tokens, *capture):
  graphdef, params = nnx.split(model, nnx.Param)
  fn = jax.jit(lambda p, t: nnx.capture(nnx.merge(graphdef, p), *capture)({"tokens": t}))
  return fn(params, tokens)


def tokens(seed=0, batch=2):
  return np.random.default_rng(seed).integers(0, VOCAB, (batch, LENGTH))


def rotate(x, base):
  """Rotary embedding of x [B, T, H, d] as a complex rotation of (x_j, x_{j+d/2})."""
  d = x.shape[-1]
  theta = base ** (-2.0 * np.arange(d // 2) / d)
  z = (x[..., :d // 2] + 1j * x[..., d // 2:]) * np.exp(
      1j * np.arange(x.shape[1])[None, :, None, None] * theta)
  return np.concatenate([z.real, z.imag], axis=-1)


def reference(model, toks, opts):
  """Logits [B, T, V] and each layer's attention weights [B, H, T, T], in float64."""
  p = jax.tree.map(lambda a: np.asarray(a, np.float64),
                   nnx.to_pure_dict(nnx.state(model, nnx.Param)))
  heads, dh = opts["num_heads"], opts["d_model"] // opts["num_heads"]
  positions = opts.get("positions", "learned")
  residual = opts.get("residual", True)
  h = p["embed"][toks]
  if positions == "learned":
    h = h + p["pos_embed"][:LENGTH]
  visible = np.tril(np.ones((LENGTH, LENGTH), bool))
  i = np.arange(1, LENGTH + 1)[:, None]  # 1-based query position
  all_weights = []
  for layer in range(opts["num_layers"]):
    block = p["blocks"][layer]
    attn = block["attn"]
    proj = lambda name: (h @ attn[name]["kernel"]).reshape(*h.shape[:2], heads, dh)
    q, k, v = proj("query"), proj("key"), proj("value")
    if positions == "rotary":
      base = opts.get("rope_base", 10_000.0)
      q, k = rotate(q, base), rotate(k, base)
    s = np.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(dh)
    if opts.get("attention", "softmax") == "softmax":
      e = np.where(visible, np.exp(s - s.max(-1, keepdims=True)), 0.0)
      w = e / e.sum(-1, keepdims=True)
    else:  # linear, identity features
      w = np.where(visible, s, 0.0)
      if opts.get("linear_normalizer", "none") == "position":
        w = w / i
    all_weights.append(w)
    out = np.einsum("bhqk,bkhd->bqhd", w, v).reshape(*h.shape[:2], -1) @ attn["out"]["kernel"]
    h = h + out if residual else out
    if opts.get("mlp"):
      mlp = block["mlp"]
      out = np.maximum(h @ mlp["up"]["kernel"], 0.0) @ mlp["down"]["kernel"]
      h = h + out if residual else out
  readout = p["embed"].T if opts.get("tied_embeddings") else p["readout"]
  return h @ readout, all_weights


def assert_matches_reference(model, opts, toks):
  logits, weights = forward(model, toks, AttnWeights)
  want, want_weights = reference(model, toks, opts)
  np.testing.assert_allclose(logits, want, rtol=2e-4, atol=1e-6)
  for layer, w in enumerate(want_weights):
    got = weights["blocks"][layer]["attn"]["attn_weights"].get_value()[0]
    np.testing.assert_allclose(got, w, rtol=2e-4, atol=1e-6)
  return np.asarray(logits)


def test_residual_false_drops_every_skip_connection():
  """Two blocks with MLPs; larger embeddings so that the skip path is not negligible."""
  toks = tokens()
  common = dict(num_layers=2, mlp=True, mlp_ratio=2, embed_init_std=1.0)
  plain, opts = build(residual=False, **common)
  without = assert_matches_reference(plain, opts, toks)
  skip, opts_skip = build(residual=True, **common)  # the same init (same Rngs, same order)
  jax.tree.map(np.testing.assert_array_equal, nnx.to_pure_dict(nnx.state(plain, nnx.Param)),
               nnx.to_pure_dict(nnx.state(skip, nnx.Param)))
  with_skip = assert_matches_reference(skip, opts_skip, toks)
  assert np.abs(with_skip - without).max() > 10 * np.abs(without).max() * 1e-3


def test_tied_embeddings_read_out_with_the_token_embedding():
  toks = tokens(1)
  tied, opts = build(tied_embeddings=True, embed_init_std=0.5)
  params = nnx.to_pure_dict(nnx.state(tied, nnx.Param))
  assert "readout" not in params  # no separate read-out matrix
  logits = assert_matches_reference(tied, opts, toks)
  # Logit v is the last hidden state's inner product with E[v]: scaling row v of E
  # by 0 (a token that is not in the input) zeroes that logit everywhere.
  absent = sorted(set(range(VOCAB)) - set(np.unique(toks)))[0]
  tied.embed[...] = tied.embed[...].at[absent].set(0.0)
  zeroed = np.asarray(forward(tied, toks))
  np.testing.assert_array_equal(zeroed[..., absent], 0.0)
  np.testing.assert_allclose(np.delete(zeroed, absent, -1), np.delete(logits, absent, -1),
                             rtol=1e-6, atol=1e-7)
  untied, _ = build(embed_init_std=0.5)
  assert "readout" in nnx.to_pure_dict(nnx.state(untied, nnx.Param))


def test_linear_normalizer_position_divides_each_row_by_the_query_position():
  toks = tokens(2)
  by_position, opts = build(attention="linear", linear_normalizer="position")
  assert_matches_reference(by_position, opts, toks)
  raw, _ = build(attention="linear", linear_normalizer="none")  # same params
  _, w_pos = forward(by_position, toks, AttnWeights)
  _, w_raw = forward(raw, toks, AttnWeights)
  w_pos = np.asarray(w_pos["blocks"][0]["attn"]["attn_weights"].get_value()[0])
  w_raw = np.asarray(w_raw["blocks"][0]["attn"]["attn_weights"].get_value()[0])
  for q in range(LENGTH):  # row q (0-based) sees q + 1 keys
    np.testing.assert_allclose(w_pos[..., q, :], w_raw[..., q, :] / (q + 1), rtol=1e-6)
  assert np.abs(w_raw[..., 1:, :]).max() > 0


@pytest.mark.parametrize("base", [100.0, 10_000.0])
def test_rope_base_sets_the_rotary_frequencies(base):
  """d_h = 4: frequencies (1, base^-1/2); the model equals the complex-rotation
  reference at its own base, and not at another one."""
  toks = tokens(3)
  model, opts = build(positions="rotary", rope_base=base, embed_init_std=1.0)
  logits = assert_matches_reference(model, opts, toks)
  other, _ = reference(model, toks, dict(opts, rope_base=base * 7.0))
  assert np.abs(other - logits).max() > 1e-4


def test_rope_base_does_not_matter_with_one_frequency():
  """With d_h = 2 the only frequency is base^0 = 1, whatever the base."""
  toks = tokens(4)
  a, _ = build(positions="rotary", rope_base=10.0, num_heads=4, embed_init_std=1.0)
  b, _ = build(positions="rotary", rope_base=1e6, num_heads=4, embed_init_std=1.0)
  np.testing.assert_allclose(forward(a, toks), forward(b, toks), rtol=1e-5, atol=1e-7)
  c, _ = build(positions="none", num_heads=4, embed_init_std=1.0)  # rotation is used
  assert np.abs(np.asarray(forward(a, toks)) - np.asarray(forward(c, toks))).max() > 1e-4
