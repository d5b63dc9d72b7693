"""A dense product x @ w with a hand-written backward pass (the token models' layers).

  matmul(x, w) = x @ w,  x [..., d_in], w [d_in, d_out] -> [..., d_out]
  backward:  dx = g @ wᵀ,  dw = xᵀ g  with x, g flattened to [N, d_in], [N, d_out]

The same mathematics as autodiff of ``x @ w``. Autodiff's transposed dot for dw made
XLA:CPU copy the [N, d_out] cotangent into [d_out, N] layout first (for the MQAR read-out
a 4096 x 512 transpose, slower than the product itself); here xᵀ, the smaller operand,
is materialised instead (an optimization barrier keeps XLA from folding the transpose
back into the dot), and dw is a plain [d_in, N] @ [N, d_out] product. On CPU this
halves a read-out's forward + backward time (benchmarks/RESULTS.md, "Transformer
backward").
"""

from __future__ import annotations

import jax


@jax.custom_vjp
def matmul(x: jax.Array, w: jax.Array) -> jax.Array:
  return x @ w


def _fwd(x, w):
  return x @ w, (x, w)


def _bwd(res, g):
  x, w = res
  x_t = jax.lax.optimization_barrier(x.reshape(-1, x.shape[-1]).T)  # [d_in, N]
  dw = x_t @ g.reshape(-1, g.shape[-1])
  return (g @ w.T).astype(x.dtype), dw.astype(w.dtype)


matmul.defvjp(_fwd, _bwd)
