"""Bigram-backcopy (BB), generated on device from a fixed random bigram table.

See docs/tasks.md, "Bigram-backcopy" (Guo et al., *Active-dormant attention
heads*, 2024, code GuoTianYu2000/Active-Dormant-Attention ``BBM/``). They take the
bigram table of a text corpus; we draw one from `table_seed` on the host:

  marginal  π_r ∝ r^(-zipf_exponent) over the regular tokens r = 1 .. V-1 (token 0 is
            BOS), so the token id is the frequency rank;
  triggers  the `num_triggers` most frequent tokens of π, i.e. tokens 1 .. k;
  rows      P(·|s) ~ Dirichlet(concentration · (V-1) · π) for every regular s (mean π;
            smaller concentration = peakier rows = lower bigram entropy), P(BOS|·) = 0;
  BOS row   P(·|BOS) = π restricted to the non-triggers, renormalised.

Sequence (Guo et al.): s_0 = BOS; s_1 ~ P(·|BOS); then s_{n+1} = s_{n-1} if s_n is a
trigger (back-copy), else s_{n+1} ~ P(·|s_n). By induction the token after a trigger
is never a trigger. Next-token cross-entropy on every position. Oracle floors: 0 at
trigger positions, H(P(·|s_n)) at bigram positions (reported per batch).

A batch:
  tokens     [B, T] int32    s_0 .. s_{T-1}
  targets    [B, T] int32    s_1 .. s_T
  loss_mask  [B, T] float32  all ones
  is_trigger [B, T] float32  1 where tokens is a trigger (target = back-copy)
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from icl import losses
from icl.tasks import base

Batch = dict[str, jax.Array]

BOS = 0


@dataclasses.dataclass(frozen=True)
class BackcopyTask(base.Task):
  """Bigram-backcopy sequences over a seeded random bigram table."""

  vocab_size: int = 64  # V, including BOS (token 0)
  seq_len: int = 256  # T
  num_triggers: int = 3  # k: the k most frequent tokens trigger a back-copy
  zipf_exponent: float = 1.0  # marginal π_r ∝ r^(-zipf_exponent)
  concentration: float = 1.0  # Dirichlet rows Dir(concentration * (V-1) * π)
  table_seed: int = 0  # draws the bigram table (host-side, deterministic)

  def __post_init__(self):
    if not 1 <= self.num_triggers < self.vocab_size - 1:
      raise ValueError(f"num_triggers={self.num_triggers} must be in [1, vocab_size-2]")

  @functools.cached_property
  def marginal(self) -> np.ndarray:
    """π over the vocabulary (π_BOS = 0): [V] float64."""
    ranks = np.arange(1, self.vocab_size, dtype=np.float64)
    pi = ranks ** -self.zipf_exponent
    return np.concatenate([[0.0], pi / pi.sum()])

  @functools.cached_property
  def triggers(self) -> np.ndarray:
    """[V] bool: the trigger tokens (the top `num_triggers` of π)."""
    out = np.zeros(self.vocab_size, bool)
    out[np.argsort(-self.marginal, kind="stable")[:self.num_triggers]] = True
    return out

  @functools.cached_property
  def table(self) -> np.ndarray:
    """The bigram table P[s, s'] = P(s'|s): [V, V] float64, rows sum to 1."""
    v, pi = self.vocab_size, self.marginal
    rng = np.random.default_rng(self.table_seed)
    alpha = self.concentration * (v - 1) * pi[1:]
    rows = rng.dirichlet(alpha, size=v)
    table = np.concatenate([np.zeros((v, 1)), rows], axis=1)
    first = np.where(self.triggers, 0.0, pi)
    table[BOS] = first / first.sum()
    return table / table.sum(axis=1, keepdims=True)

  def row_entropy(self) -> np.ndarray:
    """H(P(·|s)) in nats: [V]."""
    p = self.table
    return -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=1)

  def sample(self, key: jax.Array, batch_size: int, *, step=None) -> Batch:
    """`step` is ignored. Draws s_1 .. s_T with a scan over positions; the Gumbel
    noise of every position is drawn before it (the same numbers as one draw per
    step from its key), so the scan body is a gather, an add and an argmax."""
    del step
    log_table = jnp.log(jnp.asarray(self.table, jnp.float32))  # -inf where P = 0
    is_trig = jnp.asarray(self.triggers)
    noise = jax.vmap(lambda k: jax.random.gumbel(k, (batch_size, self.vocab_size)))(
        jax.random.split(key, self.seq_len))  # [T, B, V]

    def advance(carry, step_noise):
      prev, cur = carry  # [B], [B]
      drawn = jnp.argmax(log_table[cur] + step_noise, axis=-1).astype(jnp.int32)
      nxt = jnp.where(is_trig[cur], prev, drawn)
      return (cur, nxt), nxt

    start = jnp.full((batch_size,), BOS, jnp.int32)
    _, seq = jax.lax.scan(advance, (start, start), noise, unroll=8)
    targets = seq.T  # [B, T]: s_1 .. s_T
    tokens = jnp.concatenate([start[:, None], targets[:, :-1]], axis=1)
    return {"tokens": tokens, "targets": targets,
            "loss_mask": jnp.ones(tokens.shape, jnp.float32),
            "is_trigger": is_trig[tokens].astype(jnp.float32)}

  def query_groups(self, batch: Batch) -> dict[str, jax.Array]:
    """Queries split for the probes (`icl.probes.attention.group_sink_probes`):
    trigger positions (the head should be active) and the rest (dormant)."""
    return {"trigger": batch["is_trigger"], "nontrigger": 1.0 - batch["is_trigger"]}

  def trivial_loss(self) -> float:
    """log V: the cross-entropy of the uniform prediction."""
    return float(np.log(self.vocab_size))

  def loss(self, pred: jax.Array, batch: Batch) -> jax.Array:
    """Mean next-token cross-entropy; pred = logits [B, T, V]."""
    return losses.masked_cross_entropy(pred, batch["targets"], batch["loss_mask"])

  def metrics(self, pred: jax.Array, batch: Batch) -> dict[str, jax.Array]:
    """Loss and accuracy, split into trigger (back-copy) and bigram positions.

    oracle_loss_bigram / oracle_acc_bigram: the Bayes-optimal values at this batch's
    bigram positions (mean of H(P(·|s_n)) and of max_s' P(s'|s_n)); the trigger
    oracle is loss 0 and accuracy 1.
    """
    mask = batch["loss_mask"]
    trig = batch["is_trigger"] * mask
    bigram = (1.0 - batch["is_trigger"]) * mask
    ce = losses.token_cross_entropy(pred, batch["targets"])
    hit = losses.correct(pred, batch["targets"])
    entropy = jnp.asarray(self.row_entropy(), jnp.float32)[batch["tokens"]]
    best = jnp.asarray(self.table.max(axis=1), jnp.float32)[batch["tokens"]]
    return {"loss": losses.masked_mean(ce, mask), "acc": losses.masked_mean(hit, mask),
            "loss_trigger": losses.masked_mean(ce, trig),
            "acc_trigger": losses.masked_mean(hit, trig),
            "loss_bigram": losses.masked_mean(ce, bigram),
            "acc_bigram": losses.masked_mean(hit, bigram),
            "oracle_loss_bigram": losses.masked_mean(entropy, bigram),
            "oracle_acc_bigram": losses.masked_mean(best, bigram)}
