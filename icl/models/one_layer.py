"""The paper's model: one layer of multi-head attention read out at the query.

He, Pan, Chen, Yang, *In-Context Linear Regression Demystified* (ICML 2025); spec
docs/regression.md, "Model". With tokens z_l = (x_l, y_l) in R^D (D = d + N
label slots) and the query token z_q = (x_q, 0):

  yhat = sum_h O_h V_h Z softmax(Z^T K_h^T Q_h z_q / sqrt(D))

Q_h, K_h, V_h in R^{D x D} and O_h in R^{N x D}: full-width heads, no bias, no
positional encoding, no MLP, no layer norm, no residual. The softmax runs over the L
context tokens only (the query does not attend to itself). Initialisation is
PyTorch's nn.Linear default U(+-1/sqrt(fan_in)) of the reference code: fan_in = D for
Q, K, V and D*H for the joint output projection O.

Linear attention drops the softmax and divides by n (the training length, or the
prompt's own length: ``linear_norm``).

The forward pass is reassociated for speed (u_h = K_h^T Q_h z_q / sqrt(D), then the
scores Z^T u_h, and V_h applied after pooling the tokens): the same mathematics as
the formula, O(L D) per head instead of O(L D^2). `causal_forward` evaluates the
same layer as a causal sequence model (every token attends to strictly earlier
tokens) and is the reference the tests compare against.

Parameters (nnx.Param): query, key, value [H, D, D] (row = output coordinate, as a
PyTorch weight), out [H, N, D].
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
from flax import nnx

from icl.models import base
from icl.models.intermediates import AttnLogits, AttnWeights, ValueStates

ATTENTION_KINDS = ("softmax", "linear")
LINEAR_NORMS = ("train_len", "prompt_len")


@dataclasses.dataclass(frozen=True)
class OneLayerConfig:
  """Options of the one-layer model; exactly the fields of ``config.model`` minus ``name``."""

  num_heads: int = 2  # H
  attention: str = "softmax"  # 'softmax' or 'linear'
  linear_norm: str = "train_len"  # linear attention divides by: 'train_len' or 'prompt_len'
  init_scale: float = 1.0  # multiplies the PyTorch-default U(+-1/sqrt(fan_in)) init

  def __post_init__(self):
    if self.attention not in ATTENTION_KINDS:
      raise ValueError(f"config.model.attention={self.attention!r} is not "
                       f"allowed; allowed: {', '.join(ATTENTION_KINDS)}")
    if self.linear_norm not in LINEAR_NORMS:
      raise ValueError(f"config.model.linear_norm={self.linear_norm!r} is not "
                       f"allowed; allowed: {', '.join(LINEAR_NORMS)}")


def tokens(batch) -> tuple[jax.Array, jax.Array]:
  """Regression batch -> context tokens Z [B, L, D] and query token z_q [B, D]."""
  y = batch["y"]
  if y.ndim == 2:
    y = y[..., None]
  z = jnp.concatenate([batch["x"], y], axis=-1)
  zq = jnp.concatenate([batch["xq"], jnp.zeros(batch["xq"].shape[:-1] + y.shape[-1:],
                                                batch["xq"].dtype)], axis=-1)
  return z, zq


class OneLayerAttention(nnx.Module):
  """One layer of H full-width attention heads, read out at the query token."""

  def __init__(self, *, dim: int, num_outputs: int = 1, num_heads: int = 2,
               attention: str = "softmax", linear_norm: str = "train_len",
               train_len: int = 40, init_scale: float = 1.0, rngs: nnx.Rngs):
    if attention not in ATTENTION_KINDS:
      raise ValueError(f"model.attention={attention!r}; allowed: {ATTENTION_KINDS}")
    if linear_norm not in LINEAR_NORMS:
      raise ValueError(f"model.linear_norm={linear_norm!r}; allowed: {LINEAR_NORMS}")
    self.dim = dim
    self.num_outputs = num_outputs
    self.num_heads = num_heads
    self.attention = attention
    self.linear_norm = linear_norm
    self.train_len = train_len
    width = dim + num_outputs

    def uniform(shape, fan_in):
      bound = init_scale / math.sqrt(fan_in)
      return jax.random.uniform(rngs.params(), shape, minval=-bound, maxval=bound)

    self.query = nnx.Param(uniform((num_heads, width, width), width))
    self.key = nnx.Param(uniform((num_heads, width, width), width))
    self.value = nnx.Param(uniform((num_heads, width, width), width))
    self.out = nnx.Param(uniform((num_heads, num_outputs, width), width * num_heads))

  @property
  def width(self) -> int:
    return self.dim + self.num_outputs

  def _normalise(self, scores: jax.Array, context_len: int) -> jax.Array:
    """Scores [..., L] -> attention weights [..., L]."""
    if self.attention == "softmax":
      return jax.nn.softmax(scores, axis=-1)
    n = self.train_len if self.linear_norm == "train_len" else context_len
    return scores / n

  def __call__(self, batch) -> jax.Array:
    """Prediction at the query: [B] (one output) or [B, N]."""
    z, zq = tokens(batch)
    scale = 1.0 / math.sqrt(self.width)
    q = jnp.einsum("hij,bj->bhi", self.query[...], zq)  # Q_h z_q: [B, H, D]
    u = jnp.einsum("hij,bhi->bhj", self.key[...], q) * scale  # K_h^T Q_h z_q / sqrt(D)
    scores = jnp.einsum("bld,bhd->bhl", z, u)  # [B, H, L]
    weights = self._normalise(scores, z.shape[1])
    self.sow(AttnLogits, "attn_logits", scores[:, :, None, :])
    self.sow(AttnWeights, "attn_weights", weights[:, :, None, :])
    self.sow(ValueStates, "value_norms",
             jnp.linalg.norm(jnp.einsum("hij,blj->bhli", self.value[...], z), axis=-1))
    pooled = jnp.einsum("bhl,bld->bhd", weights, z)  # [B, H, D]
    ov = jnp.einsum("hni,hij->hnj", self.out[...], self.value[...])  # O_h V_h: [H, N, D]
    pred = jnp.einsum("hnj,bhj->bn", ov, pooled)
    return pred[:, 0] if self.num_outputs == 1 else pred

  def causal_forward(self, batch) -> jax.Array:
    """The same layer over the sequence (z_1..z_L, z_q), each token attending to
    strictly earlier tokens; returns the outputs at every position [B, L+1, N]
    (position 0 attends to nothing and outputs 0)."""
    z, zq = tokens(batch)
    seq = jnp.concatenate([z, zq[:, None]], axis=1)  # [B, T, D]
    t = seq.shape[1]
    q = jnp.einsum("hij,btj->bhti", self.query[...], seq)
    k = jnp.einsum("hij,btj->bhti", self.key[...], seq)
    v = jnp.einsum("hij,btj->bhti", self.value[...], seq)
    scores = jnp.einsum("bhsi,bhti->bhst", q, k) / math.sqrt(self.width)
    mask = jnp.tril(jnp.ones((t, t), bool), k=-1)  # strictly earlier tokens
    if self.attention == "softmax":
      weights = jax.nn.softmax(jnp.where(mask, scores, -jnp.inf), axis=-1)
      weights = jnp.where(mask, weights, 0.0)  # the first row has no keys
      weights = jnp.nan_to_num(weights)
    else:
      n = self.train_len if self.linear_norm == "train_len" else (t - 1)
      weights = jnp.where(mask, scores, 0.0) / n
    heads = jnp.einsum("bhst,bhti->bhsi", weights, v)
    return jnp.einsum("hni,bhsi->bsn", self.out[...], heads)

  def merged_weights(self) -> tuple[jax.Array, jax.Array]:
    """Merged per-head weights (docs/regression.md, "Merged per-head parameters").

    Returns W_KQ [H, D, D] = K_h^T Q_h / sqrt(D) (rows: key coordinate, columns:
    query coordinate) and W_OV [H, D, N] = (O_h V_h)^T ([H, D] when N = 1).
    """
    return merged_weights({"query": self.query[...], "key": self.key[...],
                           "value": self.value[...], "out": self.out[...]})


def merged_weights(params) -> tuple[jax.Array, jax.Array]:
  """W_KQ [H, D, D] and W_OV ([H, D] or [H, D, N]) from a params mapping."""
  q, k, v, o = (base.value(params[n]) for n in ("query", "key", "value", "out"))
  width = q.shape[-1]
  w_kq = jnp.einsum("hik,hij->hkj", k, q) / math.sqrt(width)
  w_ov = jnp.einsum("hni,hij->hjn", o, v)
  return (w_kq, w_ov[..., 0]) if w_ov.shape[-1] == 1 else (w_kq, w_ov)


def layer_weights(params, cfg: OneLayerConfig | None = None) -> dict:
  """{'l0': (W_KQ, W_OV)}: the entry's merged weights (one layer)."""
  del cfg
  return {"l0": merged_weights(params)}


def check_config(cfg: OneLayerConfig) -> None:
  """Range checks that a traced (vmapped-sweep) value could not pass through."""
  if not cfg.init_scale > 0:
    raise ValueError(f"config.model.init_scale={cfg.init_scale!r} is not "
                     "allowed; allowed: a number > 0")


def build(cfg: OneLayerConfig, task, rngs: nnx.Rngs) -> OneLayerAttention:
  """The paper's model sized for a task in the regression format."""
  return OneLayerAttention(
      dim=task.dim, num_outputs=task.num_outputs,
      num_heads=cfg.num_heads, attention=cfg.attention,
      linear_norm=cfg.linear_norm, train_len=task.context_len,
      init_scale=cfg.init_scale, rngs=rngs)


ENTRY = base.ModelEntry(config=OneLayerConfig, build=build, merged_weights=layer_weights,
                        check=check_config)
