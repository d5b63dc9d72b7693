"""icl's token transformer and its training step re-implemented in PyTorch: the peer
baseline for the bigram-backcopy configs (configs/backcopy.py, configs/instability.py).

The model is the one `icl/models/transformer.py` builds for those configs, written the
way PyTorch research code writes it (Guo et al.'s bigram-backcopy model, Wortsman et
al.'s small-scale proxy):

  h = E[tokens] + P[:T]                       nn.Embedding, N(0, embed_init_std)
  per layer:  h = h + W_o Attn(LN(h));  h = h + W_down relu(W_up LN(h))
  logits = LN(h) @ W_out                      untied read-out, N(0, readout_init_std)

Attention: causal softmax over H heads of width d_h = D / H (torch's
``scaled_dot_product_attention``, scale 1/sqrt(d_h)), queries and keys each through a
LayerNorm over d_h with `qk_norm`. Every linear layer has no bias and icl's init
(LeCun normal: a normal truncated at 2 std, variance 1/fan_in); every LayerNorm has
eps 1e-6 (flax's default). The loss is the mean next-token cross-entropy over the
scored positions (targets -100 elsewhere; the backcopy task scores all of them);
the optimizer is AdamW with icl's hyper-parameters (betas, eps, decoupled weight
decay on every parameter) and its learning-rate schedule (`lr_at`: linear warm-up
from 0, then constant, cosine or linear decay to 0), as `icl/train/optim.py` builds
it with optax. `load_icl_params` copies an icl parameter tree into the model, so the
two compute the same loss on the same batch (tests/benchmarks/test_token_reference.py).

Needs the optional extra ``pip install -e ".[bench]"`` (torch). Timed beside icl in the
``token_peers`` section (benchmarks/sections/token_peers.py):

  python -m benchmarks.run --sections=token_peers
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LAYER_NORM_EPS = 1e-6  # flax nnx.LayerNorm's default (torch's is 1e-5)

# The model options this re-implementation covers, with the values it supports; any
# other value of these (or of the options not listed, left at their defaults) is refused.
_SUPPORTED = {"attention": ("softmax",), "positions": ("learned",), "norm": ("pre",),
              "residual": (True,), "tied_embeddings": (False,), "sigma_reparam": (False,),
              "softcap": (0.0,), "short_conv": (0,)}


def lecun_normal_(weight: torch.Tensor) -> torch.Tensor:
  """flax's lecun_normal on an nn.Linear weight [d_out, d_in]: a normal truncated to
  (-2, 2) std, scaled so that the variance is 1/d_in."""
  std = math.sqrt(1.0 / weight.shape[1]) / 0.87962566103423978
  return nn.init.trunc_normal_(weight, std=std, a=-2 * std, b=2 * std)


def _linear(d_in: int, d_out: int) -> nn.Linear:
  layer = nn.Linear(d_in, d_out, bias=False)
  lecun_normal_(layer.weight)
  return layer


class Attention(nn.Module):
  """Causal softmax attention, H heads of width D / H, optional qk-layernorm."""

  def __init__(self, d_model: int, num_heads: int, qk_norm: bool):
    super().__init__()
    self.num_heads, self.head_dim = num_heads, d_model // num_heads
    self.query, self.key = _linear(d_model, d_model), _linear(d_model, d_model)
    self.value, self.out = _linear(d_model, d_model), _linear(d_model, d_model)
    self.qk_norm = qk_norm
    if qk_norm:
      self.query_norm = nn.LayerNorm(self.head_dim, eps=LAYER_NORM_EPS)
      self.key_norm = nn.LayerNorm(self.head_dim, eps=LAYER_NORM_EPS)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    b, t, _ = x.shape
    heads = lambda y: y.view(b, t, self.num_heads, self.head_dim)
    q, k, v = heads(self.query(x)), heads(self.key(x)), heads(self.value(x))
    if self.qk_norm:
      q, k = self.query_norm(q), self.key_norm(k)
    mixed = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2),
                                           v.transpose(1, 2), is_causal=True)
    return self.out(mixed.transpose(1, 2).reshape(b, t, -1))


class Block(nn.Module):
  """Pre-LN attention, then (optionally) a pre-LN ReLU MLP, both residual."""

  def __init__(self, d_model: int, num_heads: int, mlp: bool, mlp_ratio: int,
               qk_norm: bool):
    super().__init__()
    self.attn_norm = nn.LayerNorm(d_model, eps=LAYER_NORM_EPS)
    self.attn = Attention(d_model, num_heads, qk_norm)
    self.mlp = None
    if mlp:
      self.mlp_norm = nn.LayerNorm(d_model, eps=LAYER_NORM_EPS)
      self.mlp = nn.Sequential(_linear(d_model, mlp_ratio * d_model), nn.ReLU(),
                               _linear(mlp_ratio * d_model, d_model))

  def forward(self, h: torch.Tensor) -> torch.Tensor:
    h = h + self.attn(self.attn_norm(h))
    if self.mlp is not None:
      h = h + self.mlp(self.mlp_norm(h))
    return h


class TokenTransformer(nn.Module):
  """tokens [B, T] (int64) -> logits [B, T, V]."""

  def __init__(self, vocab_size: int, seq_len: int, d_model: int = 64,
               num_layers: int = 1, num_heads: int = 1, mlp: bool = True,
               mlp_ratio: int = 4, qk_norm: bool = False, embed_init_std: float = 1.0,
               readout_init_std: float = 0.02):
    super().__init__()
    self.embed = nn.Embedding(vocab_size, d_model)
    self.pos_embed = nn.Embedding(seq_len, d_model)
    nn.init.normal_(self.embed.weight, std=embed_init_std)
    nn.init.normal_(self.pos_embed.weight, std=embed_init_std)
    self.blocks = nn.ModuleList([Block(d_model, num_heads, mlp, mlp_ratio, qk_norm)
                                 for _ in range(num_layers)])
    self.final_norm = nn.LayerNorm(d_model, eps=LAYER_NORM_EPS)
    self.readout = nn.Linear(d_model, vocab_size, bias=False)
    nn.init.normal_(self.readout.weight, std=readout_init_std)

  def forward(self, tokens: torch.Tensor) -> torch.Tensor:
    positions = torch.arange(tokens.shape[1], device=tokens.device)
    h = self.embed(tokens) + self.pos_embed(positions)
    for block in self.blocks:
      h = block(h)
    return self.readout(self.final_norm(h))


def from_config(config) -> TokenTransformer:
  """The model of an icl transformer config (ValueError for an option not covered)."""
  m = config.model
  if m.name != "transformer":
    raise ValueError(f"model.name={m.name!r}: only the transformer is re-implemented")
  for field, allowed in _SUPPORTED.items():
    if field in m and m[field] not in allowed:
      raise ValueError(f"model.{field}={m[field]!r} is not re-implemented; "
                       f"supported: {allowed}")
  if config.train.get("z_loss", 0.0) or config.train.get("grad_clip", 0.0):
    raise ValueError("train.z_loss and train.grad_clip are not re-implemented")
  if config.train.optimizer != "adamw":
    raise ValueError(f"train.optimizer={config.train.optimizer!r}: only adamw")
  return TokenTransformer(config.task.vocab_size, config.task.seq_len,
                          d_model=m.d_model, num_layers=m.num_layers,
                          num_heads=m.num_heads, mlp=m.mlp, mlp_ratio=m.mlp_ratio,
                          qk_norm=m.qk_norm, embed_init_std=m.embed_init_std,
                          readout_init_std=m.readout_init_std)


def load_icl_params(model: TokenTransformer, params) -> TokenTransformer:
  """Copies icl's parameter tree (`Experiment.init_params`, one seed) into `model`:
  kernels [d_in, d_out] become nn.Linear weights [d_out, d_in]."""
  import numpy as np

  def put(dst: torch.Tensor, src, transpose: bool = False) -> None:
    src = np.asarray(src, np.float32)
    src = src.T if transpose else src
    if tuple(dst.shape) != src.shape:
      raise ValueError(f"shape {src.shape} does not fit {tuple(dst.shape)}")
    dst.copy_(torch.tensor(src))

  def norm(dst: nn.LayerNorm, src) -> None:
    put(dst.weight, src["scale"])
    put(dst.bias, src["bias"])

  with torch.no_grad():
    put(model.embed.weight, params["embed"])
    put(model.pos_embed.weight, params["pos_embed"])
    for i, block in enumerate(model.blocks):
      p = params["blocks"][i]
      norm(block.attn_norm, p["attn_norm"])
      for name in ("query", "key", "value", "out"):
        put(getattr(block.attn, name).weight, p["attn"][name]["kernel"], transpose=True)
      if block.attn.qk_norm:
        norm(block.attn.query_norm, p["attn"]["query_norm"])
        norm(block.attn.key_norm, p["attn"]["key_norm"])
      if block.mlp is not None:
        norm(block.mlp_norm, p["mlp_norm"])
        put(block.mlp[0].weight, p["mlp"]["up"]["kernel"], transpose=True)
        put(block.mlp[2].weight, p["mlp"]["down"]["kernel"], transpose=True)
    norm(model.final_norm, params["final_norm"])
    put(model.readout.weight, params["readout"], transpose=True)
  return model


def lr_at(train, step: int) -> float:
  """icl's learning rate at optimizer step `step` (`icl.train.optim.learning_rate_schedule`)."""
  warm = train.warmup_steps
  if warm > 0 and step < warm:
    return train.lr * step / warm
  t = step - max(warm, 0)
  decay = max(train.num_steps - warm, 1)
  frac = min(t, decay) / decay
  if train.schedule == "constant":
    return train.lr
  if train.schedule == "cosine":
    return train.lr * 0.5 * (1.0 + math.cos(math.pi * frac))
  if train.schedule == "linear":
    return train.lr * (1.0 - frac)
  raise ValueError(f"train.schedule={train.schedule!r}")


def loss_fn(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
  """Mean cross-entropy over the positions whose target is not -100."""
  return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                         ignore_index=-100)


def make_step(model: nn.Module, train):
  """The training step: loss, backward, AdamW with icl's hyper-parameters and schedule
  (LambdaLR stepped once per optimizer step, so step t uses lr_at(t) as optax does)."""
  optimizer = torch.optim.AdamW(model.parameters(), lr=train.lr,
                                betas=(train.b1, train.b2), eps=train.eps,
                                weight_decay=train.weight_decay)
  scheduler = torch.optim.lr_scheduler.LambdaLR(
      optimizer, lambda t: lr_at(train, t) / train.lr)
  model.train()

  def step(inputs, targets):
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(model(inputs), targets)
    loss.backward()
    optimizer.step()
    scheduler.step()
    return loss

  return step


def batch_to_torch(batch) -> tuple[torch.Tensor, torch.Tensor]:
  """An icl token batch -> (inputs, targets) int64, targets -100 where unscored."""
  import jax
  import numpy as np
  b = jax.device_get(batch)
  targets = np.where(np.asarray(b["loss_mask"]) > 0, b["targets"], -100)
  return (torch.tensor(np.asarray(b["tokens"]), dtype=torch.int64),
          torch.tensor(targets, dtype=torch.int64))


def batches_from_icl(config, num_batches: int, seed: int = 0) -> list:
  """`num_batches` batches of icl's sampler for `config` (drawn up front; not timed)."""
  import jax

  from icl import tasks
  task = tasks.make_task(config.task)
  sample = jax.jit(lambda k: task.sample(k, config.train.batch_size))
  return [batch_to_torch(sample(jax.random.key(seed + i))) for i in range(num_batches)]
