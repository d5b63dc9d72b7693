"""Activation probes, read from the captured attention of any model.

Every model sows AttnWeights / AttnLogits [B, H, Lq, Lk] and ValueStates [B, H, Lk]
(`icl.models.intermediates`); `captured_layers` names the sowing modules l0, l1, ...
in path order, so the one-layer model and a causal transformer go through the same
code. Per layer and head:

  attn_entropy  mean over prompts and queries of -sum_j A_ij log A_ij
                (Zhai et al., 2023: entropy collapse)
  sink          alpha_k = mean over queries i >= k of A_ik, k = the sink position
                (Gu et al., *When Attention Sink Emerges*, 2024); for k = 0 the
                mean attention on the first key
  max_logit     the largest pre-normalisation score (Wortsman et al., 2023)
  value_norm_sink / value_norm_rest
                mean |V_h z_k| at the sink position / over the other positions
  subset_attn   (tasks with a fixed hidden subset S, i.e. sparse parity) attention
                mass of the last query on the keys in S, mean over prompts; k/T
                for uniform causal attention over T keys, 1 when the head reads
                only S (a Barak et al., 2022-style progress measure: it can grow
                during the loss plateau)
and per model: sink_metric = % of (layer, head) pairs with alpha_k > 0.3.

Tasks whose queries fall into groups (bigram-backcopy: trigger / non-trigger
positions) define `query_groups(batch) -> {group: [B, T] mask}`; per group, layer
and head (`group_sink_probes`, Guo et al., 2024):

  sink_<group>        mean over the group's queries i > k of the raw weight A_ik,
                      not renormalised: the attention mass the sink contributes
                      (a switched-off sigmoid row has ~0 here)
  sink_logit_<group>  mean over the group's queries i > k of s_ik - mean_{j != k} s_ij,
                      the sink's pre-normalisation score above the other keys'

Attention of the unnormalised kinds (linear, sigmoid, ReLU) is row-renormalised
(|A_ij| / sum_j |A_ij|) before the entropy and the sink scores, as Gu et al. do;
for softmax that changes nothing. Queries are the last Lq of the positions (a causal
layer has Lq = Lk; the one-layer model's single query comes after all keys).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from icl.models.intermediates import AttnLogits, AttnWeights, ValueStates

Array = jax.Array
CAPTURES = (AttnWeights, AttnLogits, ValueStates)
SINK_THRESHOLD = 0.3  # epsilon of the Sink metric (Gu et al.)


def captured_layers(state: nnx.State) -> dict[str, Array]:
  """Captured state of one intermediate type -> {'l0': value, 'l1': ...}.

  A layer's name is its index among the sowing modules in path order; a module that
  sowed several times keeps its last value.
  """
  by_module: dict[tuple, Array] = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
    # path = module path + (sow name, 'value', tuple index)
    by_module[tuple(str(k) for k in path[:-3])] = leaf
  return {f"l{i}": by_module[m] for i, m in enumerate(by_module)}


def renormalise(weights: Array) -> Array:
  """Rows of |A| divided by their sums (rows with no keys stay 0): [..., Lk]."""
  a = jnp.abs(weights)
  total = jnp.sum(a, axis=-1, keepdims=True)
  return jnp.where(total > 0, a / jnp.where(total > 0, total, 1.0), 0.0)


def entropy(weights: Array) -> Array:
  """Mean attention entropy per head: [B, H, Lq, Lk] -> [H] (nats)."""
  a = renormalise(weights)
  per_row = -jnp.sum(jax.scipy.special.xlogy(a, a), axis=-1)  # [B, H, Lq]
  return jnp.mean(per_row, axis=(0, 2))


def sink_score(weights: Array, position: int = 0) -> Array:
  """alpha_k per head: mean over prompts and queries i >= k of A_ik: [H]."""
  a = renormalise(weights)
  lq, lk = a.shape[-2:]
  query_pos = lk - lq + jnp.arange(lq)
  valid = (query_pos >= position).astype(a.dtype)  # [Lq]
  per_query = jnp.mean(a[..., position], axis=0)  # [H, Lq]
  return jnp.sum(per_query * valid, axis=-1) / jnp.maximum(jnp.sum(valid), 1.0)


def sink_metric(alphas: list[Array], threshold: float = SINK_THRESHOLD) -> Array:
  """Sink_k^eps: percentage of (layer, head) pairs with alpha_k > eps."""
  flat = jnp.concatenate([jnp.ravel(a) for a in alphas])
  return 100.0 * jnp.mean((flat > threshold).astype(jnp.float32))


def max_logit(logits: Array) -> Array:
  """Largest attention score per head: [B, H, Lq, Lk] -> [H]."""
  return jnp.max(logits, axis=(0, 2, 3))


def value_norms(values: Array) -> Array:
  """Mean value-state norm per head and key position: [B, H, Lk] -> [H, Lk]."""
  return jnp.mean(values, axis=0)


def subset_attention(weights: Array, subset) -> Array:
  """Attention mass of the last query on the keys in `subset`, per head.

  weights [B, H, Lq, Lk] (row-renormalised first, as the other scores); subset: key
  positions (ints). Returns [H] = mean over prompts of sum_{j in subset} A[-1, j].
  Uniform causal attention over Lk keys gives len(subset) / Lk.
  """
  a = renormalise(weights)[..., -1, :]  # [B, H, Lk]: the last query's row
  on_subset = jnp.sum(a[..., jnp.asarray(subset)], axis=-1)  # [B, H]
  return jnp.mean(on_subset, axis=0)


def group_sink_probes(weights: Array, logits: Array, mask: Array,
                      sink_position: int = 0) -> tuple[Array, Array]:
  """Attention mass on the sink and its logit gap, over one group of queries.

  weights, logits [B, H, T, T] (causal, -inf above the diagonal), mask [B, T] (1 for
  a query in the group). Queries i <= sink_position are left out (the sink is then
  their only or a later key). Returns (mass [H], logit gap [H]).
  """
  length = weights.shape[-1]
  pos = jnp.arange(length)
  keep = mask * (pos > sink_position)  # [B, T]
  count = jnp.maximum(jnp.sum(keep), 1.0)
  mean = lambda x: jnp.sum(x * keep[:, None, :], axis=(0, 2)) / count  # [B, H, T] -> [H]
  mass = jnp.abs(weights[..., sink_position])
  visible = (pos[None, :] <= pos[:, None]) & (pos[None, :] != sink_position)  # [T, T]
  others = jnp.sum(jnp.where(visible, logits, 0.0), axis=-1) / jnp.maximum(
      jnp.sum(visible, axis=-1), 1)
  gap = jnp.where(pos > sink_position, logits[..., sink_position] - others, 0.0)
  return mean(mass), mean(gap)


def attention_probes(weights: nnx.State, logits: nnx.State, values: nnx.State,
                     sink_position: int = 0,
                     query_groups: dict[str, Array] | None = None,
                     subset=None) -> dict[str, Array]:
  """All activation probes from captured states, as a flat dict: 'attn_entropy/l0'
  -> [H], ..., 'sink_metric' -> [] (see `icl.records.probe_fields`). `query_groups`
  ({group: [B, T] mask}) adds `sink_<group>` and `sink_logit_<group>` per layer;
  `subset` (key positions of a fixed hidden subset) adds 'subset_attn/l0' -> [H]."""
  weights, logits, values = (captured_layers(s) for s in (weights, logits, values))
  out, alphas = {}, []
  for name, w in weights.items():
    alpha = sink_score(w, sink_position)
    alphas.append(alpha)
    out[f"attn_entropy/{name}"] = entropy(w)
    out[f"sink/{name}"] = alpha
    if subset is not None:
      out[f"subset_attn/{name}"] = subset_attention(w, subset)
  for name, lg in logits.items():
    out[f"max_logit/{name}"] = max_logit(lg)
  for name, v in values.items():
    norms = value_norms(v)  # [H, Lk]
    out[f"value_norm_sink/{name}"] = norms[:, sink_position]
    rest = jnp.delete(norms, sink_position, axis=1, assume_unique_indices=True)
    out[f"value_norm_rest/{name}"] = jnp.mean(rest, axis=1)
  if alphas:
    out["sink_metric"] = sink_metric(alphas)
  for group, mask in (query_groups or {}).items():
    for name in weights:
      mass, gap = group_sink_probes(weights[name], logits[name], mask, sink_position)
      out[f"sink_{group}/{name}"], out[f"sink_logit_{group}/{name}"] = mass, gap
  return out
