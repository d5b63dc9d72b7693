"""Learning coefficients with known values, and the SGLD estimator's bias in a basin.

Pure jax.numpy; imports nothing of icl. The estimator these calibrate is
`icl.probes.llc` (docs/devinterp.md). References: Watanabe (2009) for the regular
count d/2 and the normal crossing; Aoyagi & Watanabe (2005) for reduced-rank
regression; Lau, Murfet et al. (2023) for the estimator
lambda_hat = n beta (E_w[l_n(w)] - l_n(w*)) over the localized tempered posterior
p(w) ~ exp(-n beta l_n(w) - gamma/2 |w - w*|^2).

Calibration models (each a loss over a fixed dataset, truth chosen so the learning
coefficient is known):
  linear regression  y = w . x + noise, d parameters        lambda = d / 2
  monomial           y = w1^a w2^b x + noise, truth 0       lambda = 1 / (2 max(a, b))
  reduced rank       y = B A x, A [H, M], B [N, H], truth 0  `rrr_llc(M, H, N)`
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp


def regular_llc(num_params: int) -> float:
  """A regular model's learning coefficient: d / 2."""
  return num_params / 2


def monomial_llc(a: int, b: int) -> float:
  """y = w1^a w2^b x at truth 0: 1 / (2 max(a, b)) (a power 0 leaves that weight
  unused, so the model is regular in the other: 1/2 for (0, 1))."""
  return 1 / (2 * max(a, b))


def rrr_llc(m: int, h: int, n: int) -> float:
  """Reduced-rank regression M -> H -> N (y = B A x, A [H, M], B [N, H]) at true
  rank 0: Aoyagi & Watanabe (2005), Theorem 1 (the cases in order)."""
  if m + h < n:
    return m * h / 2
  if n + h < m:
    return h * n / 2
  if m + n < h:
    return m * n / 2
  value = 2 * m * n + 2 * h * n + 2 * m * h - m * m - n * n - h * h
  return (value + ((m + h + n) % 2)) / 8


def quadratic_llc(curvatures, nbeta: float, gamma: float, epsilon: float = 0.0):
  """What the SGLD estimator converges to in a quadratic basin (docs/devinterp.md).

  With l - l* = 1/2 sum_i h_i delta_i^2 the localized tempered posterior is Gaussian
  with precisions a_i = nbeta h_i + gamma; unadjusted Langevin with step epsilon has
  stationary variance 1 / (a_i (1 - epsilon a_i / 4)), so

    lambda_hat = 1/2 sum_i [1 / (1 + gamma / (nbeta h_i))] [1 / (1 - epsilon a_i / 4)].

  Localization lowers it (a flat direction, h_i << gamma / nbeta, counts ~0); the step
  size raises it, without bound as epsilon max_i a_i -> 4 (the stability limit).

  Args:
    curvatures: [d] Hessian eigenvalues of the average loss at w*.
  Returns:
    [] the expected estimate (inf past the stability limit).
  """
  h = jnp.asarray(curvatures, jnp.float32)
  a = nbeta * h + gamma
  shrink = nbeta * h / a  # = 1 / (1 + gamma / (nbeta h)), and 0 at h = 0
  inflate = jnp.where(epsilon * a < 4, 1 / (1 - epsilon * a / 4), jnp.inf)
  return 0.5 * jnp.sum(shrink * inflate)


def default_nbeta(n: int) -> float:
  """n beta* = n / log n, the inverse temperature of Watanabe's WBIC."""
  return n / math.log(n)


# --- calibration datasets and losses (mean squared error over the dataset) ---------


def linear_regression_data(key, n: int, d: int, sigma: float = 1.0):
  """{"x": [n, d], "y": [n]} with y = x . w0 + sigma noise, w0 ~ N(0, I)."""
  kw, kx, ke = jax.random.split(key, 3)
  w0 = jax.random.normal(kw, (d,))
  x = jax.random.normal(kx, (n, d))
  return {"x": x, "y": x @ w0 + sigma * jax.random.normal(ke, (n,))}


def ols(data) -> jax.Array:
  """The empirical minimiser of `linear_regression_loss`: [d]."""
  return jnp.linalg.lstsq(data["x"], data["y"])[0]


def linear_regression_loss(w, batch):
  """Mean of (y - x . w)^2; w [d]."""
  return jnp.mean(jnp.square(batch["y"] - batch["x"] @ w))


def null_data(key, n: int, in_dim: int = 1, out_dim: int | None = None,
              sigma: float = 1.0):
  """Pure noise targets (truth 0): {"x": [n, in_dim], "y": [n] or [n, out_dim]}."""
  kx, ke = jax.random.split(key)
  shape = (n,) if out_dim is None else (n, out_dim)
  return {"x": jax.random.normal(kx, (n, in_dim)),
          "y": sigma * jax.random.normal(ke, shape)}


def monomial_loss(a: int, b: int):
  """The loss of y = w1^a w2^b x; params {"w": [2]}, data from `null_data`."""
  def loss(params, batch):
    w = params["w"]
    pred = w[0] ** a * w[1] ** b * batch["x"][:, 0]
    return jnp.mean(jnp.square(batch["y"] - pred))
  return loss


def rrr_loss(params, batch):
  """Reduced-rank regression y = B A x; params {"A": [H, M], "B": [N, H]}, data from
  `null_data(key, n, M, N)`: mean over samples of |y - B A x|^2."""
  pred = batch["x"] @ params["A"].T @ params["B"].T
  return jnp.mean(jnp.sum(jnp.square(batch["y"] - pred), axis=-1))
