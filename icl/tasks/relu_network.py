"""2-layer ReLU networks in context (Garg et al. 2022, Sec. 5):
f(x) = sqrt(2/r) W2^T ReLU(W1^T x), W1 [d, r], W2 [r] with N(0, 1) entries.

See docs/deep_icl.md. params: {"w1": [B, d, r], "w2": [B, r]}. E[f(x)^2] = d
(E ReLU(g)^2 = |x|^2/2 per unit), so the normalised error is squared error / d.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from icl.tasks import function_class


@dataclasses.dataclass(frozen=True)
class ReluNetworkTask(function_class.FunctionClassTask):
  """Random 2-layer ReLU networks with r hidden units."""

  context_len: int = 101  # K (Garg: 5d + 1 points)
  hidden: int = 100  # r hidden units
  points_start: int = 26  # curriculum: k_cur at step 0
  points_inc: int = 5  # curriculum: k_cur increment per interval

  def draw_params(self, key, n, dims):
    del dims
    k1, k2 = jax.random.split(key)
    return {"w1": jax.random.normal(k1, (n, self.dim, self.hidden)),
            "w2": jax.random.normal(k2, (n, self.hidden))}

  def apply(self, params, x):
    hid = jax.nn.relu(jnp.einsum("bkd,bdr->bkr", x, params["w1"]))
    return math.sqrt(2.0 / self.hidden) * jnp.einsum("bkr,br->bk", hid, params["w2"])
