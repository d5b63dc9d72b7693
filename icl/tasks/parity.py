"""Parity tasks: sparse parity, in-context parity, running N-parity.

See docs/tasks.md, "Parity". Convention throughout: a bit b ∈ {0, 1} is the
sign x = 1 - 2b ∈ {+1, -1}, so the parity label y = Π_{j∈S} x_j is +1 for an even
number of ones and -1 for an odd one, and the 0/1 class is (1 - y)/2 = XOR_{j∈S} b_j.

* `SparseParityTask` (Barak et al., *Hidden progress*, 2022): one hidden subset S,
  |S| = k, of n bits, fixed by `subset_seed`; not in context. Token format: the n
  bits as tokens 0/1, then a query token 2; the 0/1 class is the target at the query
  (last) position, every other position is masked. vocab_size = 3, seq_len = n + 1.
* `InContextParityTask` (after Bhattamishra et al., ICLR 2024): a subset S per prompt,
  in the regression format of `icl.tasks.regression` (x, y, xq, yq), so the
  one-layer models apply. The C(n, k) subsets are split once (by `split_seed`) into
  train and held-out functions; training samples train functions.
* `RunningParityTask` (after Khajehabdollahi et al., ICLR 2024): a stream of bits; the
  target at position t is the parity of the last N bits b_{t-N+1..t}, masked for
  t < N-1. Curricula (`CURRICULA`): "fixed" (N = max_n), "single" (N = n_start +
  step // steps_per_stage, capped at max_n), "multi" (one output head per
  N = 1 .. max_n, all trained together; targets and mask get a trailing axis).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np

from icl import losses
from icl.tasks import base

Batch = dict[str, jax.Array]

QUERY_TOKEN = 2  # sparse parity: the token at which the label is read


LOSS_TYPES = ("squared", "logistic")  # in-context parity's task.loss_type


def bits_to_signs(bits: jax.Array) -> jax.Array:
  """b ∈ {0,1} -> x = 1 - 2b ∈ {+1,-1} (float32)."""
  return 1.0 - 2.0 * bits.astype(jnp.float32)


@dataclasses.dataclass(frozen=True)
class SparseParityTask(base.Task):
  """(n, k)-sparse parity with a fixed hidden subset; label read at a query token."""

  num_bits: int = 50  # n
  subset_size: int = 3  # k = |S|
  subset_seed: int = 0  # draws the hidden subset S

  @functools.cached_property
  def subset(self) -> np.ndarray:
    """The hidden subset S, sorted: [k] int."""
    rng = np.random.default_rng(self.subset_seed)
    return np.sort(rng.choice(self.num_bits, self.subset_size, replace=False))

  @property
  def probe_subset(self) -> np.ndarray:
    """The probes record the query's attention on the hidden bits."""
    return self.subset

  def trivial_loss(self) -> float:
    return float(np.log(2.0))

  @property
  def vocab_size(self) -> int:
    return 3  # bits 0, 1 and the query token

  @property
  def seq_len(self) -> int:
    return self.num_bits + 1

  def sample(self, key: jax.Array, batch_size: int, *, step=None) -> Batch:
    """Batch: tokens/targets/loss_mask [B, n+1]; x [B, n] signs; y [B] ±1 label."""
    del step
    bits = jax.random.bernoulli(key, 0.5, (batch_size, self.num_bits)).astype(jnp.int32)
    x = bits_to_signs(bits)
    y = jnp.prod(x[:, self.subset], axis=-1)
    label = ((1.0 - y) / 2.0).astype(jnp.int32)
    n = self.num_bits
    tokens = jnp.concatenate(
        [bits, jnp.full((batch_size, 1), QUERY_TOKEN, jnp.int32)], axis=1)
    targets = jnp.zeros((batch_size, n + 1), jnp.int32).at[:, n].set(label)
    loss_mask = jnp.zeros((batch_size, n + 1), jnp.float32).at[:, n].set(1.0)
    return {"tokens": tokens, "targets": targets, "loss_mask": loss_mask, "x": x, "y": y}

  def loss(self, pred: jax.Array, batch: Batch) -> jax.Array:
    """Cross-entropy of the label at the query position; pred = logits [B, T, V]."""
    return losses.masked_cross_entropy(pred, batch["targets"], batch["loss_mask"])

  def loss_positions(self, batch: Batch) -> jax.Array:
    """The query token's position n, [B, 1]."""
    return jnp.full((batch["tokens"].shape[0], 1), self.num_bits, jnp.int32)

  def metrics(self, pred: jax.Array, batch: Batch) -> dict[str, jax.Array]:
    return {"loss": self.loss(pred, batch),
            "acc": losses.masked_accuracy(pred, batch["targets"], batch["loss_mask"])}


@dataclasses.dataclass(frozen=True)
class InContextParityTask(base.Task):
  """k-sparse parity of n bits with a fresh subset per prompt, regression format.

  Batch:
    x [B, L, n], y [B, L]   context examples, entries ±1
    xq [B, n], yq [B]       query
    subset_id [B] int32     index into `subsets` (the prompt's function)
    subset_mask [B, n]      1 on S (for probes; never a model input)
    is_heldout [B] float32  1 if the function is held out of training
  """

  dim: int = 10  # n bits
  subset_size: int = 2  # k = |S|; k = 1 is the linearly solvable "dictator"
  context_len: int = 40  # m examples per prompt
  heldout_frac: float = 0.5  # fraction of the C(n, k) functions never trained on
  split_seed: int = 0  # draws the train / held-out split
  loss_type: str = "squared"  # 'squared' (pred - yq)^2 or 'logistic' log(1 + e^{-yq pred})

  def __post_init__(self):
    if self.loss_type not in LOSS_TYPES:
      raise ValueError(f"config.task.loss_type={self.loss_type!r} is not allowed; "
                       f"allowed: {', '.join(map(repr, LOSS_TYPES))}")

  num_outputs = 1  # label slots per token (regression-format models read this)
  varies_context_len = True
  covariance = "isotropic"

  @property
  def token_dim(self) -> int:
    return self.dim + self.num_outputs

  @functools.cached_property
  def subsets(self) -> np.ndarray:
    """All C(n, k) subsets in lexicographic order: [C, k] int."""
    return np.array(list(itertools.combinations(range(self.dim), self.subset_size)))

  @functools.cached_property
  def heldout(self) -> np.ndarray:
    """[C] bool: which functions are held out."""
    num = len(self.subsets)
    num_heldout = int(round(self.heldout_frac * num))
    order = np.random.default_rng(self.split_seed).permutation(num)
    out = np.zeros(num, bool)
    out[order[:num_heldout]] = True
    return out

  def split_ids(self, split: str) -> np.ndarray:
    """Function ids of 'train', 'heldout' or 'all'."""
    ids = {"train": np.flatnonzero(~self.heldout), "heldout": np.flatnonzero(self.heldout),
           "all": np.arange(len(self.subsets))}
    if split not in ids:
      raise ValueError(f"split={split!r}; allowed: {sorted(ids)}")
    if not len(ids[split]):
      raise ValueError(f"split {split!r} has no functions (heldout_frac={self.heldout_frac})")
    return ids[split]

  @property
  def eval_sample_kwargs(self) -> dict:
    """Evaluation draws from every function, so both split accuracies exist."""
    return {"split": "all"}

  def sample(self, key: jax.Array, batch_size: int, *, step=None, split: str = "train",
             context_len: int | None = None) -> Batch:
    """Prompts whose function is uniform over `split` ('train', 'heldout' or 'all')."""
    del step
    length = self.context_len if context_len is None else context_len
    k_fn, k_x = jax.random.split(key)
    ids = jnp.asarray(self.split_ids(split))
    subset_id = ids[jax.random.randint(k_fn, (batch_size,), 0, len(ids))]
    subset_mask = jax.nn.one_hot(jnp.asarray(self.subsets)[subset_id], self.dim).sum(1)
    bits = jax.random.bernoulli(k_x, 0.5, (batch_size, length + 1, self.dim))
    x_all = bits_to_signs(bits)
    y_all = jnp.prod(jnp.where(subset_mask[:, None, :] > 0, x_all, 1.0), axis=-1)
    return {"x": x_all[:, :length], "y": y_all[:, :length],
            "xq": x_all[:, length], "yq": y_all[:, length],
            "subset_id": subset_id.astype(jnp.int32), "subset_mask": subset_mask,
            "is_heldout": jnp.asarray(self.heldout, jnp.float32)[subset_id]}

  def loss(self, pred: jax.Array, batch: Batch) -> jax.Array:
    """Loss of the query prediction pred [B] against yq ∈ {±1}."""
    if self.loss_type == "squared":
      return jnp.mean(jnp.square(pred - batch["yq"]))
    if self.loss_type == "logistic":
      return jnp.mean(jax.nn.softplus(-batch["yq"] * pred))
    raise ValueError(f"task.loss_type={self.loss_type!r}; allowed: 'squared', 'logistic'")

  def per_prompt_error(self, pred: jax.Array, batch: Batch) -> jax.Array:
    if self.loss_type == "logistic":
      return jax.nn.softplus(-batch["yq"] * pred)
    return jnp.square(pred - batch["yq"])

  def trivial_loss(self) -> float:
    return 1.0 if self.loss_type == "squared" else float(np.log(2.0))

  def metrics(self, pred: jax.Array, batch: Batch) -> dict[str, jax.Array]:
    """Sign accuracy (chance 0.5), overall and on train / held-out functions.

    The split accuracies are NaN when the batch holds no such function; sample with
    split='all' to get both.
    """
    hit = (jnp.where(pred > 0, 1.0, -1.0) == batch["yq"]).astype(jnp.float32)
    heldout = batch["is_heldout"]
    return {"loss": self.loss(pred, batch), "acc": jnp.mean(hit),
            "acc_train_fn": losses.masked_mean(hit, 1.0 - heldout),
            "acc_heldout_fn": losses.masked_mean(hit, heldout)}


def _parity_of_last(bits: jax.Array, n) -> tuple[jax.Array, jax.Array]:
  """Parity (0/1) of b_{t-n+1..t} and its validity (t >= n-1): both [B, T].

  Uses the prefix XOR c_t = b_0 ⊕ .. ⊕ b_t: parity = c_t ⊕ c_{t-n}. `n` may be traced.
  """
  prefix = jnp.cumsum(bits, axis=-1) % 2
  t = jnp.arange(bits.shape[-1])
  back = t - n
  earlier = jnp.where(back >= 0, jnp.take(prefix, jnp.maximum(back, 0), axis=-1), 0)
  return (prefix ^ earlier).astype(jnp.int32), (back >= -1).astype(jnp.float32)


def _curriculum_fixed(task, step):
  del step
  return jnp.asarray(task.max_n, jnp.int32)


def _curriculum_single(task, step):
  step = jnp.asarray(0 if step is None else step, jnp.int32)
  return jnp.minimum(task.n_start + step // task.steps_per_stage, task.max_n).astype(jnp.int32)


# Curriculum name -> N(task, step) for single-output curricula; "multi" has all N.
CURRICULA = {"fixed": _curriculum_fixed, "single": _curriculum_single, "multi": None}


@dataclasses.dataclass(frozen=True)
class RunningParityTask(base.Task):
  """Running N-parity of a bit stream, with a curriculum over N.

  Batch: tokens [B, T] bits; parity_n [B] int32 (the current N; max_n for "multi");
  targets / loss_mask [B, T] (fixed, single) or [B, T, max_n] (multi: column j is
  N = j+1). A model for "multi" outputs logits [B, T, max_n, 2] (`output_heads`).
  """

  seq_len: int = 64  # T bits per stream
  max_n: int = 6  # N_max (the largest N trained)
  curriculum: str = "single"  # 'fixed' (N = max_n), 'single' (N grows with step) or 'multi'
  n_start: int = 2  # 'single': N at step 0
  steps_per_stage: int = 500  # 'single': steps before N grows by one

  def __post_init__(self):
    if self.curriculum not in CURRICULA:
      raise ValueError(f"task.curriculum={self.curriculum!r}; allowed: {sorted(CURRICULA)}")

  @property
  def vocab_size(self) -> int:
    return 2

  def trivial_loss(self) -> float:
    return float(np.log(2.0))

  @property
  def output_heads(self) -> int:
    """Output heads per position: max_n for 'multi', else 1."""
    return self.max_n if self.curriculum == "multi" else 1

  def current_n(self, step=None) -> jax.Array:
    """N used at training step `step` (max_n for 'multi'); int32 scalar."""
    if self.curriculum == "multi":
      return jnp.asarray(self.max_n, jnp.int32)
    return CURRICULA[self.curriculum](self, step)

  def sample(self, key: jax.Array, batch_size: int, *, step=None) -> Batch:
    """`step` (may be traced) sets N for the 'single' curriculum; None means step 0."""
    bits = jax.random.bernoulli(key, 0.5, (batch_size, self.seq_len)).astype(jnp.int32)
    n = self.current_n(step)
    if self.curriculum == "multi":
      pairs = [_parity_of_last(bits, j + 1) for j in range(self.max_n)]
      targets = jnp.stack([p for p, _ in pairs], axis=-1)
      loss_mask = jnp.broadcast_to(jnp.stack([m for _, m in pairs], axis=-1), targets.shape)
    else:
      targets, valid = _parity_of_last(bits, n)
      loss_mask = jnp.broadcast_to(valid, targets.shape)
    return {"tokens": bits, "targets": targets, "loss_mask": loss_mask.astype(jnp.float32),
            "parity_n": jnp.full((batch_size,), n, jnp.int32)}

  def loss(self, pred: jax.Array, batch: Batch) -> jax.Array:
    """Masked cross-entropy; pred [B, T, 2] or [B, T, max_n, 2] ('multi')."""
    return losses.masked_cross_entropy(pred, batch["targets"], batch["loss_mask"])

  def metrics(self, pred: jax.Array, batch: Batch) -> dict[str, jax.Array]:
    """acc over scored positions; 'multi' adds acc_n<N> per head; n = current N."""
    hit = losses.correct(pred, batch["targets"])
    mask = batch["loss_mask"]
    out = {"loss": self.loss(pred, batch), "acc": losses.masked_mean(hit, mask),
           "n": jnp.mean(batch["parity_n"].astype(jnp.float32))}
    if self.curriculum == "multi":
      for j in range(self.max_n):
        out[f"acc_n{j + 1}"] = losses.masked_mean(hit[..., j], mask[..., j])
    return out
