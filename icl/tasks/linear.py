"""Linear functions in context (Garg et al. 2022, Sec. 3): w ~ N(0, I_d), y = scale w.x.

See docs/deep_icl.md. The prompt, curriculum, task pool and out-of-distribution
options are `function_class.FunctionClassTask`'s. params: {"w": [B, d]}.
Normalised error: squared error / d (E[y^2] = scale^2 d).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from icl.tasks import function_class


@dataclasses.dataclass(frozen=True)
class LinearTask(function_class.FunctionClassTask):
  """Noiseless linear regression with a fresh (or pool) w per prompt."""

  scale: float = 1.0  # y = scale * w.x

  def draw_params(self, key, n, dims):
    del dims  # zeroed input coordinates do not contribute (Garg's truncation)
    return {"w": jax.random.normal(key, (n, self.dim))}

  def apply(self, params, x):
    return self.scale * jnp.einsum("bkd,bd->bk", x, params["w"])

  def scale_params(self, params, factor):
    return {"w": factor * params["w"]}

  @property
  def normaliser(self) -> float:
    return float(self.scale ** 2 * self.dim)
