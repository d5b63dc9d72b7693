"""Linear self-attention (LSA): K residual layers of full-width linear heads.

docs/linear_gd.md, "The model" (von Oswald et al., ICML 2023; Ahn et al., NeurIPS
2023; Zhang, Frei & Bartlett, JMLR 2024; Xie, Yuan, Rossi & Hannagan, arXiv
2512.04268). Tokens z_i = (x_i, y_i) in R^D (D = d + 1), the query token
z_q = (x_q, s * yhat0) with s the readout sign and yhat0 the initial guess. A layer
updates every token j (residual):

  z_j <- z_j + sum_h PV_h (1/n) sum_{i in keys} z_i (z_i^T KQ_h z_j)

with keys = the n context tokens (``masked``) or all n + 1 tokens, 1/n the prompt's
own context length (``norm='n'``) or 1 (``'none'``, von Oswald et al.). The
prediction is s * (label slot of the query after the last layer): s = +1 (ZFB, the
lab) or -1 (``readout='minus'``, von Oswald et al. and Ahn et al.). For one masked
layer this is yhat = yhat0 + s sum_h p_h^T G KQ_h z_q, p_h the last row of PV_h and
G = (1/n) sum_i z_i z_i^T.

The initial guess yhat0 (``guess``): 'zero'; 'constant' (= guess_value); 'given'
(= w0^T x_q with w0 = guess_value * 1, a fixed initialisation of GD); 'theta'
(= theta^T x_q, theta in R^d trained from 0: Xie et al.'s y_q-LSA as
reconstructed in docs/linear_gd.md); 'scalar' (= a trained constant c).

Parametrisations (``param``): 'merged' trains KQ_h and PV_h [D, D] directly;
'qkv' trains von Oswald et al.'s separate W_Q, W_K, W_V and P per head (KQ =
W_K^T W_Q, PV = P W_V; only these products are identifiable); 'ahn' trains Ahn et
al.'s restricted class, KQ = [[A_h, 0], [0, 0]] and PV = [[B_h, 0], [0, 1]] with A_h,
B_h [d, d] (the label's value fixed at 1: K layers of it are K steps of GD with a
learned preconditioner per layer, plus an x-update through B). ``shared`` applies
one layer's weights K times (von Oswald's recurrent model). Init 'normal':
N(0, init_std^2) entries; 'zfb': Zhang, Frei & Bartlett's PV = s e_D e_D^T,
KQ = s [[I/sqrt d, 0], [0, 0]] (|I/sqrt d|_F = 1) with s = init_std.

Parameters: layers[l].kq, .pv (or .query, .key, .value, .proj) [H, D, D] (row =
output coordinate), or .ahn_a, .ahn_b [H, d, d]; theta [d] ('theta'); guess_scalar []
('scalar').
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
from flax import nnx

from icl.models import base
from icl.models.intermediates import AttnLogits, AttnWeights, ValueStates

PARAMS = ("merged", "qkv", "ahn")
NORMS = ("n", "none")
READOUTS = ("plus", "minus")
GUESSES = ("zero", "constant", "given", "theta", "scalar")
INITS = ("normal", "zfb")


@dataclasses.dataclass(frozen=True)
class LSAConfig:
  """Options of the LSA model; exactly the fields of ``config.model`` minus ``name``."""

  num_layers: int = 1  # K
  num_heads: int = 1  # H (full-width heads)
  param: str = "merged"  # 'merged' (KQ, PV), 'qkv' (W_Q, W_K, W_V, P; von Oswald) or
  #   'ahn' (KQ = [[A, 0], [0, 0]], PV = [[B, 0], [0, 1]]; Ahn et al.'s class)
  shared: bool = False  # one layer's weights applied K times (recurrent)
  masked: bool = True  # keys and values from the context tokens only (not the query)
  norm: str = "n"  # 'n' (divide by the prompt's context length) or 'none'
  readout: str = "plus"  # prediction = +label slot ('plus') or -label slot ('minus')
  guess: str = "zero"  # initial guess: 'zero', 'constant', 'given', 'theta', 'scalar'
  guess_value: float = 0.0  # 'constant': yhat0; 'given': every coordinate of w0
  init: str = "normal"  # 'normal' (N(0, init_std^2)) or 'zfb' (ZFB's balanced init)
  init_std: float = 0.01  # std of the 'normal' init; the scale s of 'zfb'

  def __post_init__(self):
    for field, allowed in (("param", PARAMS), ("norm", NORMS), ("readout", READOUTS),
                           ("guess", GUESSES), ("init", INITS)):
      if getattr(self, field) not in allowed:
        raise ValueError(f"config.model.{field}={getattr(self, field)!r} is not "
                         f"allowed; allowed: {', '.join(allowed)}")
    if self.init == "zfb" and self.param != "merged":
      raise ValueError("config.model.init='zfb' is not allowed with param='qkv'; "
                       "allowed: param='merged'")

  @property
  def sign(self) -> float:
    return 1.0 if self.readout == "plus" else -1.0


class LSALayer(nnx.Module):
  """One layer of H linear heads; its merged matrices KQ_h, PV_h [H, D, D]."""

  def __init__(self, cfg: LSAConfig, dim: int, rngs: nnx.Rngs):
    width, h = dim + 1, cfg.num_heads
    self.param = cfg.param
    normal = lambda: cfg.init_std * jax.random.normal(rngs.params(), (h, width, width))
    if cfg.param == "qkv":
      self.query, self.key, self.value, self.proj = (
          nnx.Param(normal()) for _ in range(4))
    elif cfg.param == "ahn":
      block = lambda: cfg.init_std * jax.random.normal(rngs.params(), (h, dim, dim))
      self.ahn_a, self.ahn_b = nnx.Param(block()), nnx.Param(block())
    elif cfg.init == "zfb":
      kq = jnp.zeros((h, width, width)).at[:, :dim, :dim].set(jnp.eye(dim) / math.sqrt(dim))
      self.kq = nnx.Param(cfg.init_std * kq)
      self.pv = nnx.Param(jnp.zeros((h, width, width)).at[:, dim, dim].set(cfg.init_std))
    else:
      self.kq, self.pv = nnx.Param(normal()), nnx.Param(normal())

  def matrices(self) -> tuple[jax.Array, jax.Array]:
    """(KQ [H, D, D], PV [H, D, D]): score z_i^T KQ z_j, value PV z_i."""
    return merged_matrices({k: getattr(self, k)[...] for k in _names(self.param)})

  def __call__(self, seq: jax.Array, num_context: int, masked: bool, norm: str,
               last: bool) -> jax.Array:
    """seq [B, n+1, D] (query last) -> the updates of the queried tokens: [B, n+1, D],
    or [B, 1, D] for the query alone when `last` (the only token read out)."""
    kq, pv = self.matrices()
    keys = seq[:, :num_context] if masked else seq
    queries = seq[:, num_context:] if last else seq
    scores = jnp.einsum("bid,hde,bje->bhji", keys, kq, queries)  # [B, H, Tq, Tk]
    weights = scores / (num_context if norm == "n" else 1.0)
    values = jnp.einsum("hed,bid->bhie", pv, keys)  # PV_h z_i: [B, H, Tk, D]
    self.sow(AttnLogits, "attn_logits", scores)
    self.sow(AttnWeights, "attn_weights", weights)
    self.sow(ValueStates, "value_norms", jnp.linalg.norm(values, axis=-1))
    return jnp.einsum("bhji,bhie->bje", weights, values)


def _names(param: str) -> tuple[str, ...]:
  return {"qkv": ("query", "key", "value", "proj"), "ahn": ("ahn_a", "ahn_b")}.get(
      param, ("kq", "pv"))


def merged_matrices(layer) -> tuple[jax.Array, jax.Array]:
  """(KQ, PV) [H, D, D] of one layer's params mapping (either parametrisation)."""
  if "kq" in layer:
    return base.value(layer["kq"]), base.value(layer["pv"])
  if "ahn_a" in layer:
    a, b = base.value(layer["ahn_a"]), base.value(layer["ahn_b"])
    h, d = a.shape[0], a.shape[-1]
    kq = jnp.zeros((h, d + 1, d + 1), a.dtype).at[:, :d, :d].set(a)
    pv = jnp.zeros((h, d + 1, d + 1), b.dtype).at[:, :d, :d].set(b).at[:, d, d].set(1.0)
    return kq, pv
  q, k, v, p = (base.value(layer[n]) for n in ("query", "key", "value", "proj"))
  return jnp.einsum("hed,hef->hdf", k, q), jnp.einsum("hde,hef->hdf", p, v)


class LSA(nnx.Module):
  """K residual LSA layers read out at the query's label slot (module docstring)."""

  def __init__(self, cfg: LSAConfig, dim: int, rngs: nnx.Rngs):
    self.cfg = cfg
    self.dim = dim
    self.layers = nnx.List([LSALayer(cfg, dim, rngs)
                            for _ in range(1 if cfg.shared else cfg.num_layers)])
    if cfg.guess == "theta":
      self.theta = nnx.Param(jnp.zeros((dim,)))
    if cfg.guess == "scalar":
      self.guess_scalar = nnx.Param(jnp.zeros(()))

  def initial_guess(self, xq: jax.Array) -> jax.Array:
    """yhat0 [B] from the query covariates xq [B, d]."""
    cfg = self.cfg
    if cfg.guess == "constant":
      return jnp.full(xq.shape[:-1], cfg.guess_value, xq.dtype)
    if cfg.guess == "given":
      return cfg.guess_value * jnp.sum(xq, -1)
    if cfg.guess == "theta":
      return xq @ self.theta[...]
    if cfg.guess == "scalar":
      return jnp.broadcast_to(self.guess_scalar[...], xq.shape[:-1])
    return jnp.zeros(xq.shape[:-1], xq.dtype)

  def __call__(self, batch) -> jax.Array:
    """Prediction at the query: [B]."""
    cfg = self.cfg
    x, y, xq = batch["x"], batch["y"], batch["xq"]
    n = x.shape[1]
    zq = jnp.concatenate([xq, cfg.sign * self.initial_guess(xq)[:, None]], -1)
    seq = jnp.concatenate([jnp.concatenate([x, y[..., None]], -1), zq[:, None]], 1)
    for l in range(cfg.num_layers):
      layer = self.layers[0 if cfg.shared else l]
      last = l == cfg.num_layers - 1
      update = layer(seq, n, cfg.masked, cfg.norm, last)
      seq = seq.at[:, n:].add(update) if last else seq + update
    return cfg.sign * seq[:, n, self.dim]


def layer_weights(params, cfg: LSAConfig) -> dict:
  """{'l0': (W_KQ [H, D, D], W_OV [H, D]), ...}: W_KQ = KQ_h (score z_i^T W_KQ z_q,
  as the one-layer model's), W_OV = s * (last row of PV_h), the head's value as it
  reaches the prediction, so the regression pattern probes read eta = sum_h
  W_OV[-1] mean diag W_KQ[:d, :d] as the GD step."""
  layers = base.find_layers(params, lambda p: "kq" in p or "query" in p or "ahn_a" in p)
  out = {}
  for i, layer in enumerate(layers):
    kq, pv = merged_matrices(layer)
    out[f"l{i}"] = (kq, cfg.sign * pv[:, -1, :])
  return out


def check_config(cfg: LSAConfig) -> None:
  if not (isinstance(cfg.num_layers, int) and cfg.num_layers >= 1):
    raise ValueError(f"config.model.num_layers={cfg.num_layers!r} is not allowed; "
                     "allowed: an integer >= 1")
  if not cfg.init_std > 0:
    raise ValueError(f"config.model.init_std={cfg.init_std!r} is not allowed; "
                     "allowed: a number > 0")


def build(cfg: LSAConfig, task, rngs: nnx.Rngs) -> LSA:
  """LSA sized for a single-output task in the regression format (x, y)."""
  if task.num_outputs != 1:
    raise ValueError(f"model 'lsa' needs a task with one label slot; {type(task).__name__} "
                     f"has num_outputs={task.num_outputs!r}")
  return LSA(cfg, task.dim, rngs)


ENTRY = base.ModelEntry(config=LSAConfig, build=build, merged_weights=layer_weights,
                        check=check_config)
