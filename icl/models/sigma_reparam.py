"""σReparam linear layers (Zhai et al., *Stabilizing Transformer Training by
Preventing Attention Entropy Collapse*, ICML 2023, Eq. 2).

W_hat = (γ / σ(W)) W, σ(W) the spectral norm, γ a learnable scalar. σ is estimated
by power iteration without gradient through the singular vectors u, v, then
σ = vᵀ W u with gradient through W.

State choice: the paper keeps u as a buffer and does one power-iteration step per
training step. Our trainer splits a model into ``nnx.Param`` only and treats it
functionally, so there is no mutable buffer: every forward pass runs `power_iters`
iterations from a fixed start vector (a constant drawn from ``jax.random.key(0)``).
This is a pure function of W (jit/vmap-safe, identical in training and probes);
with ~16 iterations it matches ``jnp.linalg.norm(W, 2)`` closely for our small
matrices, and the extra matrix-vector products are negligible next to the layer.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from flax import nnx

_START_KEY = 0  # seeds the fixed power-iteration start vector


def _unit(x: jax.Array) -> jax.Array:
  return x / (jnp.linalg.norm(x) + 1e-12)


@functools.partial(jax.jit, static_argnums=1)  # eager calls (init, probes) compile once
def spectral_norm(w: jax.Array, num_iters: int) -> jax.Array:
  """σ(W) for W [d_in, d_out] by `num_iters` power iterations; grad flows through W only."""
  w_stop = jax.lax.stop_gradient(w)
  u = _unit(jax.random.normal(jax.random.key(_START_KEY), (w.shape[1],), w.dtype))

  def step(_, u):
    return _unit(w_stop.T @ _unit(w_stop @ u))

  u = jax.lax.fori_loop(0, num_iters, step, u)
  v = _unit(w_stop @ u)
  return v @ w @ u


# How γ starts: 1 (the paper) or σ(W_init) (so the initial layer equals plain W_init).
GAMMA_INIT = {
    "one": lambda w, iters: jnp.ones((), w.dtype),
    "sigma": spectral_norm,
}


class Linear(nnx.Module):
  """y = x @ W (no bias); with `sigma_reparam`, W -> (γ / σ(W)) W.

  x [..., d_in] -> [..., d_out]. Params: kernel [d_in, d_out]; gamma [] if reparametrised.
  """

  def __init__(self, d_in: int, d_out: int, *, rngs: nnx.Rngs,
               sigma_reparam: bool = False, power_iters: int = 16,
               gamma_init: str = "one"):
    if gamma_init not in GAMMA_INIT:
      raise ValueError(f"gamma_init={gamma_init!r}; allowed: {sorted(GAMMA_INIT)}")
    kernel = nnx.initializers.lecun_normal()(rngs.params(), (d_in, d_out))
    self.kernel = nnx.Param(kernel)
    self.sigma_reparam = sigma_reparam
    self.power_iters = power_iters
    if sigma_reparam:
      self.gamma = nnx.Param(GAMMA_INIT[gamma_init](kernel, power_iters))

  def weight(self) -> jax.Array:
    """The effective weight [d_in, d_out]."""
    w = self.kernel[...]
    if not self.sigma_reparam:
      return w
    return (self.gamma[...] / spectral_norm(w, self.power_iters)) * w

  def __call__(self, x: jax.Array) -> jax.Array:
    return x @ self.weight()
