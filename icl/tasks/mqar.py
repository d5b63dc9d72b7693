"""Multi-query associative recall (MQAR), generated on device.

See docs/tasks.md, "Associative recall: MQAR" (Arora et al., *Zoology*,
2023; checked against HazyResearch/zoology ``zoology/data/multiquery_ar.py``).

Vocabulary V: keys from {1 .. V/2-1}, values from {V/2 .. V-1}, 0 is filler. Per
sequence, K distinct keys and K distinct values; context ``k1 v1 ... kK vK`` (2K
tokens), then a query region of (T-2K)/2 slots. K distinct gaps g are drawn without
replacement with P(g) ∝ (g+1)^(a-1), g in {0 .. (T-2K)/2 - 1}, and key i is written at
position 2K + 2 g_i, so every key is queried once, in random order. The target at a
query-key position is that key's value (the next token); every other target is
masked. Example (V=12, K=2, T=12)::

  tokens:  2  8  4  7  0  0  4  0  0  0  2  0
  mask:    0  0  0  0  0  0  1  0  0  0  1  0
  targets: -  -  -  -  -  -  7  -  -  -  8  -

A batch:
  tokens     [B, T] int32    the sequence
  targets    [B, T] int32    the paired value at query positions, 0 elsewhere
  loss_mask  [B, T] float32  1 at the K query positions
  query_positions [B, K] int32  those positions (`loss_positions`)
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from icl import losses
from icl.tasks import base

Batch = dict[str, jax.Array]


def _distinct(key: jax.Array, logits: jax.Array, batch_size: int, k: int) -> jax.Array:
  """k draws without replacement from softmax(logits) per row (Gumbel top-k): [B, k].

  The i-th index is the i-th sequential draw in distribution, so the order is random.
  """
  scores = logits + jax.random.gumbel(key, (batch_size, logits.shape[-1]))
  return jax.lax.top_k(scores, k)[1]


@dataclasses.dataclass(frozen=True)
class MQARTask(base.Task):
  """Multi-query associative recall with K key-value pairs per sequence."""

  vocab_size: int = 8192  # V (even); keys < V/2 <= values
  seq_len: int = 64  # T (even)
  num_pairs: int = 4  # K key-value pairs, each queried once
  power_a: float = 0.01  # a in P(g) ∝ (g+1)^(a-1); a = 1 is uniform gaps
  random_filler: bool = False  # filler uniform over the vocabulary (zoology's option) instead of 0

  def __post_init__(self):
    if self.vocab_size % 2 or self.seq_len % 2:
      raise ValueError(f"MQAR needs even vocab_size and seq_len, got "
                       f"{self.vocab_size}, {self.seq_len}")
    if self.num_pairs > self.vocab_size // 2 - 1:
      raise ValueError(f"num_pairs={self.num_pairs} exceeds the {self.vocab_size // 2 - 1} keys")
    if self.num_pairs > self.num_slots:
      raise ValueError(f"num_pairs={self.num_pairs} exceeds the {self.num_slots} query slots "
                       f"of seq_len={self.seq_len}; need 4 * num_pairs <= seq_len")

  @property
  def num_slots(self) -> int:
    """Query slots (T - 2K) / 2 after the context."""
    return (self.seq_len - 2 * self.num_pairs) // 2

  def gap_log_probs(self) -> jax.Array:
    """log P(g), g = 0 .. num_slots-1: [num_slots]."""
    g = jnp.arange(self.num_slots, dtype=jnp.float32)
    return jax.nn.log_softmax((self.power_a - 1.0) * jnp.log1p(g))

  def sample(self, key: jax.Array, batch_size: int, *, step=None) -> Batch:
    """`step` is ignored: the distribution does not change during training."""
    del step
    k_key, k_val, k_gap, k_fill = jax.random.split(key, 4)
    half, nk, length = self.vocab_size // 2, self.num_pairs, self.seq_len
    keys = 1 + _distinct(k_key, jnp.zeros(half - 1), batch_size, nk)  # [B, K]
    values = half + _distinct(k_val, jnp.zeros(half), batch_size, nk)  # [B, K]
    gaps = _distinct(k_gap, self.gap_log_probs(), batch_size, nk)  # [B, K]
    query_pos = 2 * nk + 2 * gaps  # [B, K]

    context = jnp.stack([keys, values], axis=-1).reshape(batch_size, 2 * nk)
    tokens = jnp.zeros((batch_size, length), jnp.int32).at[:, :2 * nk].set(context)
    rows = jnp.arange(batch_size)[:, None]
    tokens = tokens.at[rows, query_pos].set(keys)
    targets = jnp.zeros((batch_size, length), jnp.int32).at[rows, query_pos].set(values)
    loss_mask = jnp.zeros((batch_size, length), jnp.float32).at[rows, query_pos].set(1.0)
    if self.random_filler:
      filler = jnp.ones((batch_size, length), bool).at[:, :2 * nk].set(False)
      filler = filler.at[rows, query_pos].set(False)
      noise = jax.random.randint(k_fill, (batch_size, length), 0, self.vocab_size)
      tokens = jnp.where(filler, noise, tokens)
    return {"tokens": tokens.astype(jnp.int32), "targets": targets, "loss_mask": loss_mask,
            "query_positions": query_pos.astype(jnp.int32)}

  def loss_positions(self, batch: Batch) -> jax.Array | None:
    """The K query positions [B, K] (the loss mask is zero elsewhere); None for a batch
    without "query_positions" (built by hand: it is read out in full)."""
    return batch.get("query_positions")

  def trivial_loss(self) -> float:
    """log V: the cross-entropy of the uniform prediction."""
    return float(np.log(self.vocab_size))

  def loss(self, pred: jax.Array, batch: Batch) -> jax.Array:
    """Cross-entropy at the query positions; pred = logits [B, T, V]."""
    return losses.masked_cross_entropy(pred, batch["targets"], batch["loss_mask"])

  def metrics(self, pred: jax.Array, batch: Batch) -> dict[str, jax.Array]:
    """acc: accuracy over query positions; acc_seq: all K queries of a sequence right."""
    mask = batch["loss_mask"]
    hit = losses.correct(pred, batch["targets"])
    wrong_per_seq = jnp.sum((1.0 - hit) * mask, axis=-1)
    return {"loss": self.loss(pred, batch),
            "acc": losses.masked_mean(hit, mask),
            "acc_seq": jnp.mean((wrong_per_seq == 0).astype(jnp.float32))}
