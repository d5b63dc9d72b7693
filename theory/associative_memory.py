"""Linear attention as an associative memory: crosstalk and recall with random embeddings.

See docs/tasks.md, "Associative recall: MQAR". One linear-attention head
(identity features) that has read K key-value pairs holds M = Σ_i v_i k_iᵀ
(d_v x d_k); reading key k_j returns

  M k_j = v_j (k_j·k_j) + Σ_{i≠j} (k_i·k_j) v_i,

the stored value plus crosstalk. For keys drawn independently and uniformly from the
unit sphere in R^{d_k}, E (k_i·k_j)² = 1/d_k, so with unit values the crosstalk has
expected squared norm exactly (K-1)/d_k relative to the signal |v_j|² = 1
(`crosstalk`). Recall degrades once K approaches d_k.

`hebbian_recall` turns that into an accuracy for MQAR's setting: fixed vocabularies of
`num_keys` keys and `num_values` values embedded as random unit vectors in R^d, K
distinct pairs per prompt, and the read-out decoded as the value whose embedding has
the largest inner product with M k_j (among all values, as a model's read-out does).
It is the memory with random, untrained embeddings and no other writes: a reference
for a trained model, not a bound (a model can learn better-spread embeddings, and in
a causal model every position writes into M, which only adds crosstalk).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array


def crosstalk(d_k: int, num_pairs: int) -> float:
  """E |M k_j - v_j|² / |v_j|² = (K - 1)/d_k: unit keys uniform on the sphere, unit values."""
  return (num_pairs - 1) / d_k


def _unit_rows(key: Array, rows: int, dim: int) -> Array:
  x = jax.random.normal(key, (rows, dim))
  return x / jnp.linalg.norm(x, axis=-1, keepdims=True)


def _one_prompt(key: Array, dim: int, num_pairs: int, num_keys: int, num_values: int):
  """(recall accuracy over the prompt's K queries, relative crosstalk |M k_j - v_j|²)."""
  k_emb, v_emb, k_pick, v_pick = jax.random.split(key, 4)
  keys, values = _unit_rows(k_emb, num_keys, dim), _unit_rows(v_emb, num_values, dim)
  key_ids = jax.random.choice(k_pick, num_keys, (num_pairs,), replace=False)
  value_ids = jax.random.choice(v_pick, num_values, (num_pairs,), replace=False)
  k, v = keys[key_ids], values[value_ids]  # [K, d]
  read = (k @ k.T) @ v  # row j: M k_j = Σ_i (k_i·k_j) v_i, [K, d]
  hit = jnp.argmax(read @ values.T, axis=-1) == value_ids
  return jnp.mean(hit), jnp.mean(jnp.sum((read - v) ** 2, axis=-1))


def hebbian_recall(key: Array, dim: int, num_pairs: int, num_keys: int = 255,
                   num_values: int = 256, num_prompts: int = 4096) -> dict[str, Array]:
  """Monte-Carlo recall of M = Σ v kᵀ with random unit embeddings in R^dim (d_k = d_v).

  Each prompt draws fresh embeddings and K distinct pairs; defaults are MQAR's
  vocabulary V = 512 (keys 1..255, values 256..511). Returns the mean accuracy over
  queries and the mean relative crosstalk, each with its standard error over prompts.
  """
  acc, talk = jax.vmap(lambda k: _one_prompt(k, dim, num_pairs, num_keys, num_values))(
      jax.random.split(key, num_prompts))
  se = lambda x: jnp.std(x) / jnp.sqrt(num_prompts)
  return {"acc": jnp.mean(acc), "acc_se": se(acc),
          "crosstalk": jnp.mean(talk), "crosstalk_se": se(talk)}
