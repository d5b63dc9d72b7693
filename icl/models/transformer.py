"""A causal decoder transformer for the token tasks, with switchable attention.

See docs/tasks.md, "The model family". tokens [B, T] -> logits [B, T, V]
(or [B, T, N, V] for a task with N = ``task.output_heads`` > 1 output heads):

  h = E[tokens] (+ P[:T] for learned positions)
  for each layer:  h = h + Attn(LN(h));  h = h + MLP(LN(h))   (MLP optional)
  logits = LN(h) @ Eᵀ (tied) or LN(h) @ W_out (untied)

`norm='none'` drops every LN; `residual=False` drops the skip connections (h =
Attn(LN(h)) ...). Attention per layer, per head (d_h = d_model / num_heads):

  q, k, v = W_q h, W_k h, W_v h  -> short conv (optional) ;  q, k -> qk_norm (LayerNorm
      over d_h) -> rotary -> feature map
  s = q·k / √d_h -> soft-cap c·tanh(s/c) -> weights by `attention_kinds.ATTENTION`
  out = W_o Σ_k w_qk v_k

Over T > QUERY_BLOCK positions the attention runs in blocks of query rows, each
reading only the keys it can see (the same numbers, fewer FLOPs, faster on CPU).

`short_conv = K > 0` passes q, k and v, each channel on its own, through a causal
convolution over the last K positions, y_t = Σ_{s<K} c_s ⊙ x_{t-s} (the short
convolution that recurrent linear-attention models such as Based, Arora et al. 2024,
and DeltaNet put on q, k, v). It lets a key at position t read the token at t-1, so
one linear-attention layer can bind a value to the key before it, which plain
linear attention cannot learn (WORKSPACE_NOTES.md, MQAR).

With `sigma_reparam`, every W_q, W_k, W_v, W_o and MLP weight is (γ/σ(W)) W (see
`sigma_reparam.py`). Each attention layer sows (``icl.models.intermediates``):
AttnWeights "attn_weights" [B, H, T, T], AttnLogits "attn_logits" [B, H, T, T]
(soft-capped scores; -inf at masked entries for every kind), ValueStates
"value_norms" [B, H, T] = |v_k| per head.

All state is ``nnx.Param``: the model is split/merged with ``nnx.split(model,
nnx.Param)``. The z-loss lives with the losses (`icl.losses.z_loss`).
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
from flax import nnx

from icl import losses
from icl.models import attention_kinds, base
from icl.models.matmul import matmul
from icl.models.intermediates import AttnLogits, AttnWeights, ValueStates
from icl.models.sigma_reparam import GAMMA_INIT, Linear

POSITIONS = ("learned", "rotary", "none")
# Query rows per block of the causal attention over T > QUERY_BLOCK positions
# (`Attention._attend_in_blocks`). At the bigram-backcopy default (B 32, T 256, d 64)
# the training loss's forward and backward ran 1.57x faster in blocks of 64 than in
# one, 1.21x in blocks of 128 and 1.11x in blocks of 32; at T = 64 smaller blocks
# (16, 32) did not help (WORKSPACE_NOTES.md, "Speed, ninth round").
QUERY_BLOCK = 64
NORMS = ("pre", "none")


@dataclasses.dataclass(frozen=True)
class TransformerConfig:
  """Options of the transformer; exactly the fields of ``config.model`` minus ``name``."""

  d_model: int = 64  # residual width
  num_layers: int = 2  # attention (+ MLP) blocks
  num_heads: int = 1  # heads per attention layer (d_h = d_model / num_heads)
  attention: str = "softmax"  # key of attention_kinds.ATTENTION
  feature_map: str = "identity"  # 'linear' only: key of attention_kinds.FEATURE_MAPS
  linear_normalizer: str = "none"  # 'linear' only: 'none', 'position' (÷ i) or 'sum' (÷ row sum)
  sigmoid_bias: float = 0.0  # 'sigmoid' only: initial bias b in sigmoid(s + b), e.g. -log T
  sigmoid_bias_learnable: bool = True  # 'sigmoid' only: b is a per-head Param (else fixed)
  mlp: bool = False  # add a ReLU MLP after each attention
  mlp_ratio: int = 4  # MLP hidden width / d_model
  positions: str = "learned"  # 'learned' absolute, 'rotary' or 'none'
  rope_base: float = 10_000.0  # rotary frequency base
  norm: str = "pre"  # 'pre' (pre-LN + final LN) or 'none'
  residual: bool = True  # skip connections around attention and MLP
  tied_embeddings: bool = False  # read out with the token embedding
  qk_norm: bool = False  # LayerNorm on queries and keys (Wortsman et al., 2023)
  sigma_reparam: bool = False  # σReparam on every attention / MLP weight (Zhai et al., 2023)
  sigma_gamma_init: str = "one"  # σReparam γ at init: 'one' or 'sigma' (σ of the init W)
  power_iters: int = 16  # σReparam power iterations per forward pass
  softcap: float = 0.0  # attention logit soft-cap c (c·tanh(s/c)); 0 = off
  short_conv: int = 0  # causal depthwise convolution of this length on q, k, v; 0 = off
  embed_init_std: float = 0.02  # std of the token and learned position embeddings
  readout_init_std: float = 0.02  # std of the untied read-out

  def __post_init__(self):
    choices = {"attention": attention_kinds.ATTENTION, "feature_map": attention_kinds.FEATURE_MAPS,
               "linear_normalizer": attention_kinds.LINEAR_NORMALIZERS, "positions": POSITIONS,
               "norm": NORMS, "sigma_gamma_init": GAMMA_INIT}
    for field, allowed in choices.items():
      if getattr(self, field) not in allowed:
        raise ValueError(f"model.{field}={getattr(self, field)!r}; allowed: {sorted(allowed)}")
    if not isinstance(self.short_conv, int) or self.short_conv < 0:
      raise ValueError(f"model.short_conv={self.short_conv!r} is not allowed; allowed: an "
                       "integer >= 0 (0 = off)")
    if self.d_model % self.num_heads:
      raise ValueError(f"model.d_model={self.d_model} is not divisible by "
                       f"model.num_heads={self.num_heads}")
    if self.positions == "rotary" and (self.d_model // self.num_heads) % 2:
      raise ValueError("model.positions='rotary' needs an even head dimension")

  @property
  def head_dim(self) -> int:
    return self.d_model // self.num_heads


def rotary(x: jax.Array, base: float, positions: jax.Array | None = None) -> jax.Array:
  """Rotary position embedding (Su et al., 2021), half-split form. x [B, T, H, d_h];
  `positions` [B, T] (int): the token positions of x's rows (default 0 .. T-1)."""
  length, dim = x.shape[1], x.shape[-1]
  freqs = base ** (-jnp.arange(0, dim // 2, dtype=jnp.float32) * 2.0 / dim)
  if positions is None:
    positions = jnp.arange(length)[None]  # [1, T]
  angles = positions.astype(jnp.float32)[..., None] * freqs  # [B or 1, T, d_h/2]
  cos, sin = jnp.cos(angles)[:, :, None, :], jnp.sin(angles)[:, :, None, :]
  x1, x2 = x[..., :dim // 2], x[..., dim // 2:]
  return jnp.concatenate([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1).astype(x.dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def layer_norm(x: jax.Array, scale: jax.Array, bias: jax.Array, eps: float) -> jax.Array:
  """(x - mean) / sqrt(var + eps) * scale + bias over the last axis (two-pass variance),
  with the closed-form backward pass dx = r (gs - mean(gs) - x̂ mean(gs x̂)), gs = g ⊙ scale,
  r = 1/sqrt(var + eps): one pass over g instead of the ~10 elementwise ops and
  materialised broadcasts that autodiff of the forward formula produces."""
  return _layer_norm_fwd(x, scale, bias, eps)[0]


def _layer_norm_fwd(x, scale, bias, eps):
  centred = x - jnp.mean(x, axis=-1, keepdims=True)
  rstd = jax.lax.rsqrt(jnp.mean(jnp.square(centred), axis=-1, keepdims=True) + eps)
  normed = centred * rstd
  return normed * scale + bias, (normed, rstd, scale)


def _layer_norm_bwd(eps, res, g):
  del eps
  normed, rstd, scale = res
  gs = g * scale
  dx = rstd * (gs - jnp.mean(gs, axis=-1, keepdims=True)
               - normed * jnp.mean(gs * normed, axis=-1, keepdims=True))
  lead = tuple(range(g.ndim - 1))
  return dx, jnp.sum(g * normed, axis=lead), jnp.sum(g, axis=lead)


layer_norm.defvjp(_layer_norm_fwd, _layer_norm_bwd)


class LayerNorm(nnx.LayerNorm):
  """`nnx.LayerNorm` (same params, scale and bias [D]; same epsilon) computed by
  `layer_norm` (two-pass variance, closed-form gradient)."""

  def __call__(self, x: jax.Array) -> jax.Array:
    return layer_norm(x, self.scale[...], self.bias[...], self.epsilon)


def _sow(module: nnx.Module, kind: type, name: str, value: jax.Array) -> None:
  """Sows only inside ``nnx.capture``: a bare ``model(batch)`` stays pure and never adds
  Intermediate state to the module (which would break ``nnx.split(model, nnx.Param)``).
  flax 0.12.8 marks an active capture by the ``__captures__`` attribute it sets."""
  if hasattr(module, "__captures__"):
    module.sow(kind, name, value)


def short_conv(x: jax.Array, weights: jax.Array) -> jax.Array:
  """Causal depthwise convolution over time: x [B, T, C], weights [K, C] -> [B, T, C],
  y_t = Σ_{s<K} weights[s] ⊙ x_{t-s} (zero before the first position)."""
  length = x.shape[1]
  padded = jnp.pad(x, ((0, 0), (weights.shape[0] - 1, 0), (0, 0)))
  return sum(weights[s] * padded[:, weights.shape[0] - 1 - s:][:, :length]
             for s in range(weights.shape[0]))


class Dense(Linear):
  """`sigma_reparam.Linear` (same params) applied with `matmul.matmul`."""

  def __call__(self, x: jax.Array) -> jax.Array:
    return matmul(x, self.weight())


def _linear(cfg: TransformerConfig, d_in: int, d_out: int, rngs: nnx.Rngs) -> Dense:
  return Dense(d_in, d_out, rngs=rngs, sigma_reparam=cfg.sigma_reparam,
                power_iters=cfg.power_iters, gamma_init=cfg.sigma_gamma_init)


class Attention(nnx.Module):
  """Causal multi-head attention of kind ``cfg.attention``. x [B, T, D] -> [B, T, D]."""

  def __init__(self, cfg: TransformerConfig, *, rngs: nnx.Rngs):
    self.cfg = cfg
    width = cfg.num_heads * cfg.head_dim
    self.query = _linear(cfg, cfg.d_model, width, rngs)
    self.key = _linear(cfg, cfg.d_model, width, rngs)
    self.value = _linear(cfg, cfg.d_model, width, rngs)
    self.out = _linear(cfg, width, cfg.d_model, rngs)
    if cfg.short_conv:
      # PyTorch's Conv1d default for a depthwise kernel: U(-1/√K, 1/√K), as in the
      # references' nn.Conv1d short convolutions.
      bound = 1.0 / math.sqrt(cfg.short_conv)
      init = lambda: nnx.Param(jax.random.uniform(
          rngs.params(), (cfg.short_conv, width), jnp.float32, -bound, bound))
      self.conv_q, self.conv_k, self.conv_v = init(), init(), init()
    if cfg.qk_norm:
      self.query_norm = LayerNorm(cfg.head_dim, rngs=rngs)
      self.key_norm = LayerNorm(cfg.head_dim, rngs=rngs)
    # A fixed bias stays a Python float in cfg: the model holds nothing but Params.
    self.learned_bias = cfg.attention == "sigmoid" and cfg.sigmoid_bias_learnable
    if self.learned_bias:
      self.bias = nnx.Param(jnp.full((cfg.num_heads,), cfg.sigmoid_bias, jnp.float32))

  def __call__(self, x: jax.Array, positions: jax.Array | None = None) -> jax.Array:
    """x [B, T, D] -> [B, T, D]; with `positions` [B, P] (int), only those query rows:
    [B, P, D] (keys and values still at every position)."""
    cfg = self.cfg
    batch, length, _ = x.shape
    heads = lambda y: y.reshape(batch, y.shape[1], cfg.num_heads, cfg.head_dim)
    rows = lambda y: y if positions is None else losses.gather_positions(y, positions)
    # A short convolution mixes neighbouring positions: its queries are gathered after it.
    q = self.query(x if cfg.short_conv else rows(x))
    k, v = self.key(x), self.value(x)
    if cfg.short_conv:
      q, k, v = (short_conv(y, c[...]) for y, c in
                 ((q, self.conv_q), (k, self.conv_k), (v, self.conv_v)))
      q = rows(q)
    q, k, v = heads(q), heads(k), heads(v)
    if cfg.qk_norm:
      q, k = self.query_norm(q), self.key_norm(k)
    if cfg.positions == "rotary":
      q, k = rotary(q, cfg.rope_base, positions), rotary(k, cfg.rope_base)
    if cfg.attention == "linear":
      phi = attention_kinds.FEATURE_MAPS[cfg.feature_map]
      q, k = phi(q), phi(k)
    bias = (self.bias[...] if self.learned_bias
            else jnp.full((cfg.num_heads,), cfg.sigmoid_bias, q.dtype))
    if positions is not None:  # [B, 1, P, T]: key k is visible to the query at p iff k <= p
      mask = (jnp.arange(length) <= positions[..., None])[:, None]
      logits, weights, mixed = self._attend(q, k, v, mask, bias)
    elif length <= QUERY_BLOCK:
      mask = attention_kinds.causal_mask(length)  # [T, T]
      logits, weights, mixed = self._attend(q, k, v, mask, bias)
    else:
      mask, logits, weights, mixed = self._attend_in_blocks(q, k, v, bias)
    _sow(self, AttnWeights, "attn_weights", weights)
    _sow(self, AttnLogits, "attn_logits", jnp.where(mask, logits, -jnp.inf))
    _sow(self, ValueStates, "value_norms", jnp.linalg.norm(v, axis=-1).transpose(0, 2, 1))
    return self.out(mixed.reshape(batch, q.shape[1], -1))

  def _attend(self, q, k, v, mask, bias):
    """q [B, Q, H, d_h], k and v [B, K, H, d_h], mask [Q, K] (or broadcasting to [B,
    H, Q, K]) -> logits and weights [B, H, Q, K], mixed values [B, Q, H, d_h]."""
    cfg = self.cfg
    logits = jnp.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(cfg.head_dim)
    if cfg.softcap > 0:
      logits = cfg.softcap * jnp.tanh(logits / cfg.softcap)
    weights = attention_kinds.ATTENTION[cfg.attention](logits, mask, bias, cfg)
    return logits, weights, jnp.einsum("bhqk,bkhd->bqhd", weights, v)

  def _attend_in_blocks(self, q, k, v, bias):
    """Causal attention over all T positions, QUERY_BLOCK query rows at a time: the
    rows [s, e) read the keys [0, e) only, so the products skip the future keys of
    every block but the diagonal's (5/8 of the full products' FLOPs at T = 256).
    Every attention kind is a function of each query's row, so the numbers are the
    full computation's. Returns the [T, T] mask and, for the sown states only (XLA
    drops them when nothing captures them), the full logits and weights."""
    length = q.shape[1]
    full_mask = attention_kinds.causal_mask(length)
    rows = []
    for start in range(0, length, QUERY_BLOCK):
      stop = min(start + QUERY_BLOCK, length)
      rows.append(self._attend(q[:, start:stop], k[:, :stop], v[:, :stop],
                               full_mask[start:stop, :stop], bias))
    pad = lambda x, value: jnp.pad(x, ((0, 0), (0, 0), (0, 0), (0, length - x.shape[-1])),
                                   constant_values=value)
    logits = jnp.concatenate([pad(r[0], 0.0) for r in rows], axis=2)
    weights = jnp.concatenate([pad(r[1], 0.0) for r in rows], axis=2)
    return full_mask, logits, weights, jnp.concatenate([r[2] for r in rows], axis=1)


class Mlp(nnx.Module):
  """ReLU MLP D -> ratio·D -> D."""

  def __init__(self, cfg: TransformerConfig, *, rngs: nnx.Rngs):
    self.up = _linear(cfg, cfg.d_model, cfg.mlp_ratio * cfg.d_model, rngs)
    self.down = _linear(cfg, cfg.mlp_ratio * cfg.d_model, cfg.d_model, rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    return self.down(jax.nn.relu(self.up(x)))


class Block(nnx.Module):
  """Attention then (optionally) MLP, each pre-LN and residual if configured."""

  def __init__(self, cfg: TransformerConfig, *, rngs: nnx.Rngs):
    self.cfg = cfg
    norm = lambda: LayerNorm(cfg.d_model, rngs=rngs) if cfg.norm == "pre" else None
    self.attn_norm, self.attn = norm(), Attention(cfg, rngs=rngs)
    self.mlp_norm, self.mlp = (norm(), Mlp(cfg, rngs=rngs)) if cfg.mlp else (None, None)

  def _sublayer(self, norm, layer, h):
    out = layer(norm(h) if norm is not None else h)
    return h + out if self.cfg.residual else out

  def __call__(self, h: jax.Array, positions: jax.Array | None = None) -> jax.Array:
    """h [B, T, D] -> [B, T, D]; with `positions` [B, P], the rows at those positions
    only ([B, P, D]: attention reads every earlier position, the rest is per-row)."""
    if positions is None:
      h = self._sublayer(self.attn_norm, self.attn, h)
    else:
      out = self.attn(self.attn_norm(h) if self.attn_norm is not None else h, positions)
      h = losses.gather_positions(h, positions) + out if self.cfg.residual else out
    if self.mlp is not None:
      h = self._sublayer(self.mlp_norm, self.mlp, h)
    return h


class Transformer(nnx.Module):
  """Causal decoder: batch["tokens"] [B, T] -> logits [B, T, V] ([B, T, N, V] if N > 1)."""

  def __init__(self, cfg: TransformerConfig, *, vocab_size: int, seq_len: int,
               output_heads: int = 1, rngs: nnx.Rngs):
    if output_heads > 1 and cfg.tied_embeddings:
      raise ValueError(f"a task with {output_heads} output heads needs "
                       "model.tied_embeddings=False")
    self.cfg, self.vocab_size, self.output_heads = cfg, vocab_size, output_heads
    init = nnx.initializers.normal(cfg.embed_init_std)
    self.embed = nnx.Param(init(rngs.params(), (vocab_size, cfg.d_model)))
    if cfg.positions == "learned":
      self.pos_embed = nnx.Param(init(rngs.params(), (seq_len, cfg.d_model)))
    self.blocks = nnx.List([Block(cfg, rngs=rngs) for _ in range(cfg.num_layers)])
    self.final_norm = LayerNorm(cfg.d_model, rngs=rngs) if cfg.norm == "pre" else None
    if not cfg.tied_embeddings:
      init = nnx.initializers.normal(cfg.readout_init_std)
      self.readout = nnx.Param(init(rngs.params(), (cfg.d_model, output_heads * vocab_size)))

  def __call__(self, batch: dict[str, jax.Array]) -> jax.Array:
    """batch["tokens"] [B, T] -> logits [B, T, V] (or [B, T, N, V]). With
    batch["readout_positions"] [B, P] (int, e.g. the task's `loss_positions`), the
    logits at those positions only, [B, P, V]: the last block computes just those
    query rows and the read-out just those logits (the same numbers as the full
    output gathered there, at a fraction of the cost when P << T)."""
    tokens = batch["tokens"]
    positions = batch.get("readout_positions")
    h = self.embed[...][tokens]
    if self.cfg.positions == "learned":
      h = h + self.pos_embed[...][:tokens.shape[1]]
    last = len(self.blocks) - 1
    for i, block in enumerate(self.blocks):
      h = block(h, positions if i == last else None)
    if positions is not None and last < 0:  # no blocks: the embeddings' rows
      h = losses.gather_positions(h, positions)
    if self.final_norm is not None:
      h = self.final_norm(h)
    readout = self.embed[...].T if self.cfg.tied_embeddings else self.readout[...]
    logits = matmul(h, readout)
    if self.output_heads > 1:
      logits = logits.reshape(*logits.shape[:-1], self.output_heads, self.vocab_size)
    return logits


ATTENTION_PARAMS = ("query", "key", "value", "out")


def _effective_kernel(linear) -> jax.Array:
  """`sigma_reparam.Linear` params {'kernel'[, 'gamma']} -> W [d_in, d_out]
  (σReparam's (γ/σ(W)) W with the exact spectral norm)."""
  w = base.value(linear["kernel"])
  if "gamma" in linear:
    w = (base.value(linear["gamma"]) / base.spectral_norm(w)) * w
  return w


def _is_attention(p) -> bool:
  return all(n in p and hasattr(p[n], "keys") and "kernel" in p[n]
             for n in ATTENTION_PARAMS)


def merged_weights(params, cfg: TransformerConfig) -> dict[str, tuple[jax.Array, jax.Array]]:
  """{'l0': (W_KQ [H, D, D], W_OV [H, D, D]), ...}: query/key/value/out are Linear
  layers (kernels [D, H·d_h] and [H·d_h, D]). W_KQ^h = K_h^T Q_h / sqrt(d_h) (the
  model's score scale; qk-layernorm and rotary positions are not part of it);
  W_OV^h = (O_h V_h)^T."""
  num_heads = cfg.num_heads
  out = {}
  for i, layer in enumerate(base.find_layers(params, _is_attention)):
    q, k, v, o = (_effective_kernel(layer[n]) for n in ATTENTION_PARAMS)
    d_model = q.shape[0]
    d_h = q.shape[1] // num_heads
    heads_in = lambda w: w.reshape(d_model, num_heads, d_h).transpose(1, 2, 0)  # [H, d_h, D]
    q, k, v = heads_in(q), heads_in(k), heads_in(v)
    o = o.reshape(num_heads, d_h, d_model)  # [H, d_h, D_out]
    w_kq = jnp.einsum("hik,hij->hkj", k, q) / jnp.sqrt(d_h)
    w_ov = jnp.einsum("hio,hij->hjo", o, v)
    out[f"l{i}"] = (w_kq, w_ov)
  return out


def build(cfg: TransformerConfig, task, rngs: nnx.Rngs) -> Transformer:
  """The task supplies vocab_size, seq_len and output_heads."""
  return Transformer(cfg, vocab_size=task.vocab_size, seq_len=task.seq_len,
                     output_heads=getattr(task, "output_heads", 1), rngs=rngs)


ENTRY = base.ModelEntry(config=TransformerConfig, build=build, merged_weights=merged_weights,
                        readout_positions=True)
