"""Zoology's MQAR model and training step in PyTorch: the peer baseline for the token tasks.

Vendored, trimmed to what an MQAR attention run executes, from HazyResearch/zoology
(Arora et al., *Zoology*, 2023; Apache-2.0): ``zoology/model.py`` (TokenEmbeddings,
_init_weights, TransformerBlock, LMBackbone, LanguageModel), ``zoology/mixers/attention.py``
(SelfAttention, MHA) and ``zoology/train.py`` (Trainer.train_epoch / compute_loss /
fit: CrossEntropyLoss over every position with -100 for unscored targets, AdamW with
weight decay 0.1). Left out: the mixers that MQAR attention runs do not use, wandb,
tqdm, the data loader (the batches are drawn up front, untimed, as Zoology's own
pre-generated data are) and torchvision's StochasticDepth, which is the identity at
Zoology's default drop_path = 0. The state mixer is ``torch.nn.Identity`` (Zoology's
attention-only MQAR configs; icl's MQAR model has no MLP either). Zoology's current
``LanguageModel.forward`` returns the hidden states unless ``return_embeddings=False``;
the step asks for the logits, as its CE loss means to.

Needs the optional extra ``pip install -e ".[bench]"`` (torch). Timed beside icl in the
``token_peers`` section (benchmarks/sections/token_peers.py):

  python -m benchmarks.run --sections=token_peers
"""

from __future__ import annotations

import math
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn


class TokenEmbeddings(nn.Module):
  """Word + learned position embeddings (Zoology's 'default' init: N(0, 0.02) later)."""

  def __init__(self, embed_dim, vocab_size, max_position_embeddings):
    super().__init__()
    self.word_embeddings = nn.Embedding(vocab_size, embed_dim)
    self.max_position_embeddings = max_position_embeddings
    if max_position_embeddings > 0:
      self.position_embeddings = nn.Embedding(max_position_embeddings, embed_dim)

  def forward(self, input_ids):
    seqlen = input_ids.shape[1]
    embeddings = self.word_embeddings(input_ids)
    if self.max_position_embeddings > 0:
      position_ids = torch.arange(seqlen, dtype=torch.long, device=input_ids.device)
      embeddings = embeddings + self.position_embeddings(position_ids)
    return embeddings


def _init_weights(module, n_layers, initializer_range=0.02, rescale_prenorm_residual=True):
  if isinstance(module, nn.Linear):
    nn.init.normal_(module.weight, std=initializer_range)
    if module.bias is not None:
      nn.init.zeros_(module.bias)
  elif isinstance(module, nn.Embedding):
    nn.init.normal_(module.weight, std=initializer_range)
  if rescale_prenorm_residual:
    for name, p in module.named_parameters():
      if "out_proj.weight" in name or "fc2.weight" in name:
        nn.init.normal_(p, mean=0.0, std=initializer_range / math.sqrt(2 * n_layers))


class SelfAttention(nn.Module):
  """Causal softmax attention on packed qkv [B, S, 3, H, D] (Zoology's einsum form)."""

  def __init__(self, attention_dropout=0.0):
    super().__init__()
    self.dropout_p = attention_dropout

  def forward(self, qkv):
    seqlen = qkv.shape[1]
    q, k, v = qkv.unbind(dim=2)
    softmax_scale = 1.0 / math.sqrt(q.shape[-1])
    scores = torch.einsum("bthd,bshd->bhts", q, k * softmax_scale)
    causal_mask = torch.triu(torch.full((seqlen, seqlen), -10000.0, device=scores.device), 1)
    scores = scores + causal_mask.to(dtype=scores.dtype)
    attention = torch.softmax(scores, dim=-1, dtype=v.dtype)
    attention_drop = F.dropout(attention, self.dropout_p if self.training else 0.0)
    return torch.einsum("bhts,bshd->bthd", attention_drop, v)


class MHA(nn.Module):
  """Fused Wqkv (with bias), causal attention, output projection."""

  def __init__(self, d_model, num_heads=1, bias=True, dropout=0.0):
    super().__init__()
    self.num_heads, self.head_dim = num_heads, d_model // num_heads
    self.Wqkv = nn.Linear(d_model, 3 * d_model, bias=bias)
    self.inner_attn = SelfAttention(attention_dropout=dropout)
    self.out_proj = nn.Linear(d_model, d_model)

  def forward(self, x):
    qkv = self.Wqkv(x)
    qkv = qkv.reshape(*qkv.shape[:-1], 3, self.num_heads, self.head_dim)
    context = self.inner_attn(qkv)
    return self.out_proj(context.reshape(*context.shape[:-2], -1))


class TransformerBlock(nn.Module):
  """Zoology's pre-norm block with the residual carried beside the hidden states."""

  def __init__(self, d_model, num_heads, layer_idx, embed_dropout, resid_dropout, mlp):
    super().__init__()
    self.sequence_mixer = MHA(d_model, num_heads)
    self.state_mixer = (nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(),
                                      nn.Linear(4 * d_model, d_model))
                        if mlp else nn.Identity())
    self.dropout1 = nn.Dropout(embed_dropout if layer_idx == 0 else resid_dropout)
    self.norm1 = nn.LayerNorm(d_model)
    self.dropout2 = nn.Dropout(resid_dropout)
    self.norm2 = nn.LayerNorm(d_model)

  def forward(self, hidden_states, residual=None):
    dropped = self.dropout1(hidden_states)
    residual = (dropped + residual) if residual is not None else dropped
    hidden_states = self.sequence_mixer(self.norm1(residual))
    dropped = self.dropout2(hidden_states)
    residual = (dropped + residual) if residual is not None else dropped
    hidden_states = self.state_mixer(self.norm2(residual))
    return hidden_states, residual


class LanguageModel(nn.Module):
  """Embeddings, blocks, final LN, tied LM head (Zoology's LMBackbone + LanguageModel)."""

  def __init__(self, vocab_size, seq_len, d_model=64, n_layers=2, num_heads=1,
               embed_dropout=0.1, resid_dropout=0.0, mlp=False, layer_norm_epsilon=1e-5):
    super().__init__()
    self.embeddings = TokenEmbeddings(d_model, vocab_size, seq_len)
    self.layers = nn.ModuleList([
        TransformerBlock(d_model, num_heads, i, embed_dropout, resid_dropout, mlp)
        for i in range(n_layers)])
    self.drop_f = nn.Dropout(resid_dropout)
    self.ln_f = nn.LayerNorm(d_model, eps=layer_norm_epsilon)
    self.lm_head = nn.Linear(d_model, vocab_size, bias=False)
    self.apply(partial(_init_weights, n_layers=n_layers))
    self.lm_head.weight = self.embeddings.word_embeddings.weight

  def forward(self, input_ids):
    hidden_states, residual = self.embeddings(input_ids), None
    for layer in self.layers:
      hidden_states, residual = layer(hidden_states, residual)
    residual = self.drop_f(hidden_states) + residual
    return self.lm_head(self.ln_f(residual))


def make_step(model: nn.Module, lr: float = 2.2e-3, weight_decay: float = 0.1):
  """Zoology's training step: CE over all positions (targets -100 unscored), AdamW."""
  loss_fn = nn.CrossEntropyLoss()
  optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
  model.train()

  def step(inputs, targets):
    optimizer.zero_grad()
    logits = model(inputs)
    loss = loss_fn(logits.reshape(-1, logits.shape[-1]), targets.flatten())
    loss.backward()
    optimizer.step()
    return loss

  return step


def batches_from_icl(config, num_batches: int, seed: int = 0) -> list:
  """`num_batches` MQAR batches of icl's sampler as Zoology's (inputs, targets) tensors,
  targets -100 where icl's loss mask is 0 (drawn up front; not timed)."""
  import jax
  import numpy as np

  from icl import tasks
  task = tasks.make_task(config.task)
  sample = jax.jit(lambda k: task.sample(k, config.train.batch_size))
  out = []
  for i in range(num_batches):
    b = jax.device_get(sample(jax.random.key(seed + i)))
    targets = np.where(b["loss_mask"] > 0, b["targets"], -100)
    out.append((torch.from_numpy(np.asarray(b["tokens"], np.int64)),
                torch.from_numpy(np.asarray(targets, np.int64))))
  return out
