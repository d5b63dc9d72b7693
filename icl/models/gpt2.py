"""A GPT-2-style causal transformer on real-valued prompts (Garg et al. 2022, Raventós
et al. 2023), sharing the blocks of `icl.models.transformer`.

See docs/deep_icl.md, "The model". batch {"x": [B, K, d], "y": [B, K]} -> yhat [B, K]:

  tokens z_0..z_{2K-1}  (prompt_format):
    'garg'      z_{2i} = x_i in R^d,         z_{2i+1} = (y_i, 0, ..., 0) in R^d
                (y shares coordinate 0 with x_1: x- and y-tokens differ only by position)
    'raventos'  z_{2i} = (0, x_i) in R^{d+1}, z_{2i+1} = (y_i, 0, ..., 0) in R^{d+1}
  h = z W_in (+ b_in) + P[:2K]          (a read-in Dense replaces the token embedding)
  for each layer:  h = h + Attn(LN(h));  h = h + MLP(LN(h))   (transformer.Block)
  yhat_i = LN(h)_{2i} . w_out (+ b_out)  (read at the x-token positions)

so yhat_i sees (x_0, y_0, ..., x_{i-1}, y_{i-1}, x_i): the prediction with i examples.
Every attention kind, norm, positional scheme and probe of the token transformer
applies (the config subclasses `TransformerConfig`; `merged_weights` is the
transformer's). GPT-2 details: tanh-approximate GELU MLP of width 4 d_model, every
block weight N(0, init_std = 0.02), the residual projections (attention out, MLP
down) N(0, init_std / sqrt(2 num_layers)) (Radford et al. 2019); the learned
positions N(0, embed_init_std) (0.02, as GPT-2's wpe). Unlike GPT-2 the
attention and MLP layers have no biases (the shared blocks have none); the read-in
and read-out have one when `io_bias` and start as PyTorch's nn.Linear (Garg's) or as
N(0, init_std) (Raventós', `io_init`).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
from flax import nnx

from icl.models import base, transformer

PROMPT_FORMATS = ("garg", "raventos")
IO_INITS = ("torch", "normal")
ACTIVATIONS = {"gelu_tanh": lambda x: jax.nn.gelu(x, approximate=True),
               "relu": jax.nn.relu}


@dataclasses.dataclass(frozen=True)
class GPT2Config(transformer.TransformerConfig):
  """The transformer's options plus the real-valued prompt's (fields of config.model)."""

  d_model: int = 64  # residual width (Garg's Tiny: 64 / 3 layers / 2 heads)
  num_layers: int = 3  # blocks
  num_heads: int = 2  # heads per attention layer
  mlp: bool = True  # GPT-2 blocks have an MLP
  prompt_format: str = "garg"  # 'garg' (y in x's coordinate 0) or 'raventos' (disjoint slots)
  io_bias: bool = True  # bias on the read-in and read-out (Garg: yes; Raventós: no)
  io_init: str = "torch"  # read-in/out init: 'torch' U(+-1/sqrt(fan_in)) (Garg) or 'normal' N(0, init_std) (Raventós)
  activation: str = "gelu_tanh"  # MLP nonlinearity: 'gelu_tanh' (GPT-2) or 'relu'
  init_std: float = 0.02  # std of every weight (residual projections / sqrt(2 L))
  scaled_residual_init: bool = True  # GPT-2's 1/sqrt(2 L) on attention out and MLP down

  def __post_init__(self):
    super().__post_init__()
    if self.prompt_format not in PROMPT_FORMATS:
      raise ValueError(f"model.prompt_format={self.prompt_format!r}; allowed: "
                       f"{', '.join(PROMPT_FORMATS)}")
    if self.io_init not in IO_INITS:
      raise ValueError(f"model.io_init={self.io_init!r}; allowed: {', '.join(IO_INITS)}")
    if self.activation not in ACTIVATIONS:
      raise ValueError(f"model.activation={self.activation!r}; allowed: "
                       f"{', '.join(ACTIVATIONS)}")
    if self.tied_embeddings:
      raise ValueError("model.tied_embeddings=True: a real-valued read-out has no "
                       "embedding table to tie")


class Mlp(transformer.Mlp):
  """D -> ratio D -> D with the configured activation (GPT-2: tanh GELU)."""

  def __init__(self, cfg: GPT2Config, *, rngs: nnx.Rngs):
    super().__init__(cfg, rngs=rngs)
    self.activation = cfg.activation

  def __call__(self, x: jax.Array) -> jax.Array:
    return self.down(ACTIVATIONS[self.activation](self.up(x)))


class Block(transformer.Block):
  """The transformer's block with the GPT-2 MLP."""

  def __init__(self, cfg: GPT2Config, *, rngs: nnx.Rngs):
    super().__init__(cfg, rngs=rngs)
    if cfg.mlp:
      self.mlp = Mlp(cfg, rngs=rngs)


def tokens(x: jax.Array, y: jax.Array, prompt_format: str) -> jax.Array:
  """The interleaved prompt: x [B, K, d], y [B, K] -> z [B, 2K, d] ('garg') or
  [B, 2K, d + 1] ('raventos')."""
  if prompt_format == "raventos":
    x = jnp.pad(x, ((0, 0), (0, 0), (1, 0)))
  y_tok = jnp.zeros_like(x).at[..., 0].set(y)
  return jnp.stack([x, y_tok], axis=2).reshape(x.shape[0], 2 * x.shape[1], x.shape[2])


def _normal(std: float, rngs: nnx.Rngs, shape) -> nnx.Param:
  return nnx.Param(std * jax.random.normal(rngs.params(), shape))


def _io(cfg: GPT2Config, rngs: nnx.Rngs, shape) -> tuple[nnx.Param, nnx.Param]:
  """A read-in / read-out weight [fan_in, fan_out] and bias [fan_out]: PyTorch's
  nn.Linear default U(+-1/sqrt(fan_in)) for both (Garg's _read_in / _read_out), or
  N(0, init_std) and zeros (Raventós' Dense)."""
  if cfg.io_init == "normal":
    return _normal(cfg.init_std, rngs, shape), nnx.Param(jnp.zeros(shape[-1:]))
  bound = 1.0 / math.sqrt(shape[0])
  draw = lambda s: nnx.Param(jax.random.uniform(rngs.params(), s, jnp.float32, -bound, bound))
  return draw(shape), draw(shape[-1:])


class GPT2(nnx.Module):
  """batch {"x": [B, K, d], "y": [B, K]} -> yhat [B, K] (module docstring)."""

  def __init__(self, cfg: GPT2Config, *, dim: int, context_len: int, rngs: nnx.Rngs):
    self.cfg = cfg
    token_dim = dim + (cfg.prompt_format == "raventos")
    self.read_in, read_in_bias = _io(cfg, rngs, (token_dim, cfg.d_model))
    self.read_out, read_out_bias = _io(cfg, rngs, (cfg.d_model, 1))
    if cfg.io_bias:
      self.read_in_bias, self.read_out_bias = read_in_bias, read_out_bias
    if cfg.positions == "learned":
      self.pos_embed = _normal(cfg.embed_init_std, rngs, (2 * context_len, cfg.d_model))
    self.blocks = nnx.List([Block(cfg, rngs=rngs) for _ in range(cfg.num_layers)])
    residual_std = cfg.init_std / (math.sqrt(2 * cfg.num_layers)
                                   if cfg.scaled_residual_init else 1.0)
    for block in self.blocks:  # GPT-2's init in place of the shared blocks' LeCun init
      layers = [(block.attn.query, cfg.init_std), (block.attn.key, cfg.init_std),
                (block.attn.value, cfg.init_std), (block.attn.out, residual_std)]
      if block.mlp is not None:
        layers += [(block.mlp.up, cfg.init_std), (block.mlp.down, residual_std)]
      for layer, std in layers:
        layer.kernel = _normal(std, rngs, layer.kernel.shape)
        if cfg.sigma_reparam:  # keep gamma's 'sigma' start consistent with the new W
          layer.gamma = nnx.Param(transformer.GAMMA_INIT[cfg.sigma_gamma_init](
              layer.kernel[...], cfg.power_iters))
    self.final_norm = nnx.LayerNorm(cfg.d_model, rngs=rngs) if cfg.norm == "pre" else None

  def __call__(self, batch: dict[str, jax.Array]) -> jax.Array:
    z = tokens(batch["x"], batch["y"], self.cfg.prompt_format)
    h = z @ self.read_in[...]
    if self.cfg.io_bias:
      h = h + self.read_in_bias[...]
    if self.cfg.positions == "learned":
      h = h + self.pos_embed[...][: z.shape[1]]
    for block in self.blocks:
      h = block(h)
    if self.final_norm is not None:
      h = self.final_norm(h)
    out = h[:, ::2] @ self.read_out[...]  # the x-token positions
    if self.cfg.io_bias:
      out = out + self.read_out_bias[...]
    return out[..., 0]


def build(cfg: GPT2Config, task, rngs: nnx.Rngs) -> GPT2:
  """The task supplies dim and context_len (learned positions cover 2K tokens)."""
  return GPT2(cfg, dim=task.dim, context_len=task.context_len, rngs=rngs)


ENTRY = base.ModelEntry(config=GPT2Config, build=build,
                        merged_weights=transformer.merged_weights)
