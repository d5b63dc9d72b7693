"""Sparse linear functions (Garg et al. 2022, Sec. 5): w ~ N(0, I_d) with all but s
coordinates, chosen uniformly among the curriculum's valid ones, set to 0.

See docs/deep_icl.md. params: {"w": [B, d]}. Normalised error: squared error / s
(E[y^2] = s). Baselines: Lasso and the exact posterior over supports
(`theory.baselines.lasso`, `sparse_bayes`).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from icl.tasks import function_class


@dataclasses.dataclass(frozen=True)
class SparseLinearTask(function_class.FunctionClassTask):
  """s-sparse linear regression."""

  sparsity: int = 3  # s nonzero coordinates

  def __post_init__(self):
    if not 1 <= self.sparsity <= self.dim:
      raise ValueError(f"task.sparsity={self.sparsity!r}; allowed: 1 <= s <= dim={self.dim}")

  def draw_params(self, key, n, dims):
    k_w, k_s = jax.random.split(key)
    w = jax.random.normal(k_w, (n, self.dim))
    # A uniform s-subset of the valid coordinates: the s smallest of i.i.d. uniforms,
    # invalid coordinates pushed past every valid one.
    u = jax.random.uniform(k_s, (n, self.dim)) + (jnp.arange(self.dim) >= dims)
    ranks = jnp.argsort(jnp.argsort(u, axis=-1), axis=-1)
    return {"w": w * (ranks < self.sparsity)}

  def apply(self, params, x):
    return jnp.einsum("bkd,bd->bk", x, params["w"])

  def scale_params(self, params, factor):
    return {"w": factor * params["w"]}

  @property
  def normaliser(self) -> float:
    return float(self.sparsity)
