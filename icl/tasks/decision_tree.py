"""Depth-limited decision trees in context (Garg et al. 2022, Sec. 5).

See docs/deep_icl.md. A complete binary tree of depth D stored as arrays of length
2^(D+1) - 1: split coordinates ``coord[node] ~ U{0..d-1}`` and values
``value[node] ~ N(0, 1)`` (only the 2^D leaves are read). From the root, D times
node <- 2 node + 1 + [x_{coord[node]} > 0] (thresholds 0); y = value[node]. A split on
a coordinate the curriculum zeroed always goes left. params: {"coord": [B, N] int,
"value": [B, N]}. E[y^2] = 1: the normalised error is the squared error.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from icl.tasks import function_class


@dataclasses.dataclass(frozen=True)
class DecisionTreeTask(function_class.FunctionClassTask):
  """Random depth-D trees with zero thresholds and N(0, 1) leaves."""

  context_len: int = 101  # K (Garg: 5d + 1 points)
  depth: int = 4  # D levels of splits
  points_start: int = 26  # curriculum: k_cur at step 0
  points_inc: int = 5  # curriculum: k_cur increment per interval

  @property
  def num_nodes(self) -> int:
    return 2 ** (self.depth + 1) - 1

  def draw_params(self, key, n, dims):
    del dims  # Garg draw split coordinates over all d
    k_c, k_v = jax.random.split(key)
    return {"coord": jax.random.randint(k_c, (n, self.num_nodes), 0, self.dim),
            "value": jax.random.normal(k_v, (n, self.num_nodes))}

  def apply(self, params, x):
    coord, value = params["coord"], params["value"]  # [B, N]
    node = jnp.zeros(x.shape[:2], jnp.int32)  # [B, K]
    for _ in range(self.depth):
      c = jnp.take_along_axis(coord, node, axis=1)  # [B, K] split coordinate
      right = jnp.take_along_axis(x, c[..., None], axis=2)[..., 0] > 0
      node = 2 * node + 1 + right.astype(jnp.int32)
    return jnp.take_along_axis(value, node, axis=1)

  @property
  def normaliser(self) -> float:
    return 1.0
