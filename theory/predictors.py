"""In-context predictors for linear regression, as pure functions of one prompt.

See docs/regression.md, "Theory" (He, Pan, Chen, Yang, *In-Context Linear
Regression Demystified*, ICML 2025, arXiv 2503.12734).

Every predictor has the signature

  f(x: [..., L, d], y: [..., L], xq: [..., d], *params) -> yhat: [...]

with arbitrary (broadcast) leading batch dimensions, so it works on one prompt, on
a batch, and under `jax.vmap`/`jax.jit`. No predictor depends on model code.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array


def _context_moment(x: Array, y: Array) -> Array:
  """(1/L) sum_l y_l x_l, shape [..., d]: the one-step GD direction from 0."""
  return jnp.einsum("...ld,...l->...d", x, y) / x.shape[-2]


def ridge_predict(x: Array, y: Array, xq: Array, lam: float) -> Array:
  """Ridge regression: yhat = xq^T (X^T X + lam I)^{-1} X^T y.

  With lam = d * sigma^2 this is the Bayes posterior mean for beta ~ N(0, I/d)
  (docs/regression.md, "Theory": Bayes-optimal predictor = ridge with lambda = d sigma^2).

  Args:
    x: [..., L, d] context covariates. y: [..., L] labels. xq: [..., d] query.
    lam: ridge penalty (scalar).
  Returns:
    [...] predictions.
  """
  d = x.shape[-1]
  gram = jnp.einsum("...ld,...le->...de", x, x) + lam * jnp.eye(d, dtype=x.dtype)
  rhs = jnp.einsum("...ld,...l->...d", x, y)
  beta_hat = jnp.linalg.solve(gram, rhs[..., None])[..., 0]
  return jnp.einsum("...d,...d->...", beta_hat, xq)


def bayes_predict(x: Array, y: Array, xq: Array, noise_var: float,
                  prior_scale: float = 1.0, prior_cov: Array | None = None) -> Array:
  """Posterior-mean predictor xq^T E[beta | X, y] for a Gaussian prior.

  Prior beta ~ N(0, P) with P = prior_cov, or P = prior_scale^2 I / d when
  prior_cov is None (the task's default). Likelihood y = X beta + eps,
  eps ~ N(0, noise_var I). Then E[beta | X, y] = (X^T X + noise_var P^{-1})^{-1} X^T y.
  The covariate covariance Sigma does not enter: it only shapes p(X), which does
  not depend on beta. For the isotropic prior this is ridge with
  lam = d * noise_var / prior_scale^2.

  Args:
    x: [..., L, d]. y: [..., L]. xq: [..., d].
    noise_var: sigma^2. prior_scale: s in beta ~ N(0, s^2 I / d).
    prior_cov: optional [d, d] prior covariance P (overrides prior_scale).
  Returns:
    [...] predictions.
  """
  d = x.shape[-1]
  if prior_cov is None:
    return ridge_predict(x, y, xq, d * noise_var / prior_scale**2)
  penalty = noise_var * jnp.linalg.inv(jnp.asarray(prior_cov, x.dtype))
  gram = jnp.einsum("...ld,...le->...de", x, x) + penalty
  rhs = jnp.einsum("...ld,...l->...d", x, y)
  beta_hat = jnp.linalg.solve(gram, rhs[..., None])[..., 0]
  return jnp.einsum("...d,...d->...", beta_hat, xq)


def ols_predict(x: Array, y: Array, xq: Array) -> Array:
  """Least squares (minimum-norm when L < d): yhat = xq^T pinv(X) y."""
  beta_hat = jnp.einsum("...dl,...l->...d", jnp.linalg.pinv(x), y)
  return jnp.einsum("...d,...d->...", beta_hat, xq)


def gd_predict(x: Array, y: Array, xq: Array, eta: float) -> Array:
  """One step of GD from beta = 0 with step eta: yhat = (eta/L) sum_l y_l x_l^T xq."""
  return eta * jnp.einsum("...d,...d->...", _context_moment(x, y), xq)


def debiased_gd_predict(x: Array, y: Array, xq: Array, eta: float) -> Array:
  """Debiased one-step GD: yhat = (eta/L) sum_l (y_l - ybar) x_l^T xq.

  The small-omega limit of a zero-sum (sum_h mu_h = 0) pair of softmax heads with
  eta = sum_h mu_h omega_h (docs/regression.md, "Theory").
  """
  yc = y - jnp.mean(y, axis=-1, keepdims=True)
  return gd_predict(x, yc, xq, eta)


def preconditioned_gd_predict(x: Array, y: Array, xq: Array, gamma: Array) -> Array:
  """Preconditioned one-step GD: yhat = (1/L) sum_l y_l x_l^T Gamma xq.

  The form of the optimal one-layer linear attention (Ahn et al. 2023; Zhang,
  Frei & Bartlett 2023). gamma: [d, d] (or broadcastable [..., d, d]).
  """
  return jnp.einsum("...d,...de,...e->...", _context_moment(x, y), gamma, xq)


def kernel_predict(x: Array, y: Array, xq: Array, omega: Array, mu: Array) -> Array:
  """Multi-head softmax kernel estimator (the trained model with the four patterns).

  yhat = sum_h mu_h sum_l y_l softmax_l(omega_h x_l^T xq), the softmax over the L
  context tokens only (docs/regression.md, "Theory").

  Args:
    x: [..., L, d]. y: [..., L]. xq: [..., d].
    omega, mu: [H] per-head KQ scale and OV value.
  Returns:
    [...] predictions.
  """
  omega = jnp.asarray(omega, x.dtype)
  mu = jnp.asarray(mu, x.dtype)
  scores = jnp.einsum("...ld,...d->...l", x, xq)               # [..., L]
  logits = scores[..., None, :] * omega[:, None]                # [..., H, L]
  weights = jax.nn.softmax(logits, axis=-1)
  per_head = jnp.einsum("...hl,...l->...h", weights, y)         # [..., H]
  return jnp.einsum("...h,h->...", per_head, mu)


def linear_attention_predict(x: Array, y: Array, xq: Array, omega: Array, mu: Array,
                             n: float | None = None) -> Array:
  """Linear-attention counterpart: yhat = sum_h mu_h omega_h (1/n) sum_l y_l x_l^T xq.

  n is the normaliser (default: the prompt length L). Equals gd_predict with
  eta = (L/n) sum_h mu_h omega_h.
  """
  eta = jnp.sum(jnp.asarray(mu) * jnp.asarray(omega))
  n = x.shape[-2] if n is None else n
  return gd_predict(x, y, xq, eta * x.shape[-2] / n)
