"""Classical in-context estimators at every prefix length, as pure jax.numpy.

See docs/deep_icl.md, "Baselines" (Garg, Tsipras, Liang & Valiant 2022, *What can
transformers learn in-context?*, Sec. 3 and App. A.3; Raventós, Paul, Chen & Ganguli
2023, *Pretraining task diversity*, Eqs. 2-3).

Every estimator reads one prompt of K examples and predicts at every position k the
way a causal model does, from the prefix (x_0, y_0, ..., x_{k-1}, y_{k-1}) and the
query x_k:

  f(x: [..., K, d], y: [..., K], *params) -> yhat: [..., K]

with yhat[..., k] using exactly the k examples before position k (position 0 has no
examples). Leading batch dimensions broadcast, so each works on one prompt, on a
batch, and under `jax.vmap` / `jax.jit`. The prefix is a mask over the K examples
(row k sees j < k), so one fixed-shape computation serves every k.

Closed forms (noiseless, x, w ~ N(0, I_d), error normalised by d): least squares
1 - k/d for k < d and 0 from k = d on; averaging (d + 1 + sigma^2)/k.
"""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array


def prefix_mask(length: int) -> Array:
  """[K, K] float: mask[k, j] = 1 for j < k (the examples position k may use)."""
  return jnp.tril(jnp.ones((length, length), jnp.float32), k=-1)


def _prefixes(x: Array, y: Array) -> tuple[Array, Array]:
  """Masked copies of the prompt, one per position: x [..., K, K, d], y [..., K, K]
  with row k keeping examples j < k and zeros elsewhere (a zero row changes neither
  X^T X nor X^T y, so every least-squares form below sees only the prefix)."""
  mask = prefix_mask(x.shape[-2]).astype(x.dtype)
  return x[..., None, :, :] * mask[..., None], y[..., None, :] * mask


def _grams(x: Array, y: Array) -> tuple[Array, Array]:
  """Prefix Gram matrices G_k = sum_{j<k} x_j x_j^T [..., K, d, d] and moments
  b_k = sum_{j<k} y_j x_j [..., K, d] (exclusive cumulative sums)."""
  outer = jnp.einsum("...kd,...ke->...kde", x, x)
  moment = x * y[..., None]
  return jnp.cumsum(outer, axis=-3) - outer, jnp.cumsum(moment, axis=-2) - moment


def _at_query(w: Array, x: Array) -> Array:
  """yhat_k = w_k . x_k: w [..., K, d], x [..., K, d] -> [..., K]."""
  return jnp.einsum("...kd,...kd->...k", w, x)


def least_squares(x: Array, y: Array, rcond: float | None = None) -> Array:
  """Minimum-norm least squares per prefix: w_k = pinv(X_{<k}) y_{<k} (Garg et al.
  2022, Sec. 3). Its noiseless risk is 1 - k/d for k < d (w_k is the projection of
  w on span(x_0..x_{k-1})). Float32 pinv is ill-conditioned right at k = d; pass a
  larger `rcond` or float64 inputs there.

  Args: x [..., K, d], y [..., K]. Returns: [..., K].
  """
  xs, ys = _prefixes(x, y)
  w = jnp.einsum("...kdj,...kj->...kd", jnp.linalg.pinv(xs, rtol=rcond), ys)
  return _at_query(w, x)


def ridge(x: Array, y: Array, lam: float) -> Array:
  """Ridge per prefix: w_k = (X^T X + lam I)^{-1} X^T y over j < k; with lam =
  sigma^2 / tau^2 the posterior mean for w ~ N(0, tau^2 I) (Raventós et al. 2023,
  Eq. 3). Position 0 predicts 0.

  Args: x [..., K, d], y [..., K], lam > 0. Returns: [..., K].
  """
  gram, moment = _grams(x, y)
  d = x.shape[-1]
  w = jnp.linalg.solve(gram + lam * jnp.eye(d, dtype=x.dtype), moment[..., None])[..., 0]
  return _at_query(w, x)


def averaging(x: Array, y: Array) -> Array:
  """Averaging: w_k = (1/k) sum_{j<k} x_j y_j (Garg et al. 2022, Sec. 3); 0 at k = 0.
  Noiseless risk (d + 1)/k for isotropic x, w (E[(S/k)^2] = (1 + (d+1)/k) I).

  Args: x [..., K, d], y [..., K]. Returns: [..., K].
  """
  _, moment = _grams(x, y)
  count = jnp.arange(x.shape[-2], dtype=x.dtype)
  return _at_query(moment / jnp.maximum(count, 1.0)[:, None], x)


def nearest_neighbours(x: Array, y: Array, num_neighbours: int = 3) -> Array:
  """Uniform-weight n-NN: the mean of y_j over the n examples j < k nearest to x_k in
  Euclidean distance, or over all k when k < n (Garg et al. 2022, "3-NN"); 0 at k = 0.

  Args: x [..., K, d], y [..., K], num_neighbours n. Returns: [..., K].
  """
  length = x.shape[-2]
  n = min(num_neighbours, length)
  dist = jnp.sum(jnp.square(x[..., :, None, :] - x[..., None, :, :]), axis=-1)
  visible = prefix_mask(length) > 0
  neg = jnp.where(visible, -dist, -jnp.inf)  # [..., K(query), K(example)]
  top, idx = jax.lax.top_k(neg, n)
  used = jnp.isfinite(top)  # fewer than n examples before position k
  vals = jnp.take_along_axis(jnp.broadcast_to(y[..., None, :], neg.shape), idx, axis=-1)
  total = jnp.sum(jnp.where(used, vals, 0.0), axis=-1)
  return total / jnp.maximum(jnp.sum(used, axis=-1), 1)


def lasso(x: Array, y: Array, alpha: float, num_iters: int = 1_000) -> Array:
  """Lasso per prefix by FISTA (Beck & Teboulle 2009): w_k minimises
  (1/(2k)) |y - X w|^2 + alpha |w|_1 over j < k, sklearn's scaling (Garg et al. 2022,
  App. A.3: Lasso(alpha, fit_intercept=False)). Step 1/L with L = lambda_max(X^T X)/k;
  0 at k = 0.

  Args: x [..., K, d], y [..., K], alpha > 0, num_iters FISTA steps.
  Returns: [..., K].
  """
  gram, moment = _grams(x, y)
  count = jnp.maximum(jnp.arange(x.shape[-2], dtype=x.dtype), 1.0)[:, None]
  gram = gram / count[..., None]
  moment = moment / count
  lip = jnp.maximum(jnp.linalg.eigvalsh(gram)[..., -1], 1e-12)[..., None]
  soft = lambda v, t: jnp.sign(v) * jnp.maximum(jnp.abs(v) - t, 0.0)

  def step(carry, _):
    w, z, t = carry
    grad = jnp.einsum("...de,...e->...d", gram, z) - moment
    w_new = soft(z - grad / lip, alpha / lip)
    t_new = (1 + jnp.sqrt(1 + 4 * t * t)) / 2
    z_new = w_new + ((t - 1) / t_new) * (w_new - w)
    return (w_new, z_new, t_new), None

  w0 = jnp.zeros_like(moment)
  (w, _, _), _ = jax.lax.scan(step, (w0, w0, jnp.ones((), x.dtype)), None,
                              length=num_iters)
  return _at_query(w, x)


def supports(dim: int, sparsity: int) -> np.ndarray:
  """[C(d, s), s] int: every support of an s-sparse vector in R^d, in lexicographic order."""
  return np.asarray(list(itertools.combinations(range(dim), sparsity)), np.int32)


def sparse_bayes(x: Array, y: Array, sparsity: int, noise_var: float = 1e-4,
                 prior_var: float = 1.0) -> Array:
  """Exact posterior mean of s-sparse regression per prefix (Garg et al.'s sparse
  prior: a uniform support S of size s, w_S ~ N(0, tau^2 I_s), zero elsewhere;
  y = X w + N(0, sigma^2)). A mixture over the C(d, s) supports:

    E[w | X, y] = sum_S p(S | X, y) m_S,   m_S = A_S^{-1} X_S^T y / sigma^2,
    A_S = X_S^T X_S / sigma^2 + I / tau^2,
    log p(S | X, y) = -1/2 log det(tau^2 A_S) + 1/2 |X_S^T y|^2_{A_S^{-1}} / sigma^4 + c,

  the Gaussian marginal likelihood of y under S (Woodbury), c common to all S. For
  noiseless data pass a small jitter sigma^2 (1e-4) so the likelihoods stay finite.
  Cost O(K C(d,s) s^3) per prompt: vmap or chunk over prompts.

  Args: x [..., K, d], y [..., K], sparsity s, noise_var sigma^2, prior_var tau^2.
  Returns: [..., K].
  """
  support = jnp.asarray(supports(x.shape[-1], sparsity))  # [S, s]
  gram, moment = _grams(x, y)  # [..., K, d, d], [..., K, d]
  g_s = gram[..., support[:, :, None], support[:, None, :]]  # [..., K, S, s, s]
  b_s = moment[..., support]  # [..., K, S, s]
  prec = g_s / noise_var + jnp.eye(sparsity, dtype=x.dtype) / prior_var
  chol = jnp.linalg.cholesky(prec)
  half = jax.scipy.linalg.solve_triangular(chol, b_s[..., None] / noise_var, lower=True)
  logdet = 2 * jnp.sum(jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)), -1)
  logp = -0.5 * (logdet + sparsity * math.log(prior_var)) + 0.5 * jnp.sum(
      jnp.square(half[..., 0]), -1)  # [..., K, S]
  mean_s = jax.scipy.linalg.solve_triangular(chol, half, lower=True, trans="T")[..., 0]
  weights = jax.nn.softmax(logp, axis=-1)
  pred_s = jnp.einsum("...kSs,...kSs->...kS", mean_s, x[..., support])
  return jnp.sum(weights * pred_s, -1)


def dmmse(x: Array, y: Array, pool: Array, noise_var: float) -> Array:
  """Discrete MMSE: the posterior mean under the uniform prior on a finite task pool
  (Raventós et al. 2023, Eq. 2). w_k = sum_m softmax_m(a_m) w^(m) with
  a_m = -(1/(2 sigma^2)) sum_{j<k} (y_j - w^(m) . x_j)^2; at k = 0 the pool mean.

  Args: x [..., K, d], y [..., K], pool [M, d], noise_var sigma^2 > 0.
  Returns: [..., K].
  """
  resid = jnp.square(y[..., None] - jnp.einsum("...kd,md->...km", x, pool))  # [..., K, M]
  seen = jnp.cumsum(resid, axis=-2) - resid  # examples j < k
  weights = jax.nn.softmax(-seen / (2 * noise_var), axis=-1)
  return jnp.einsum("...km,md,...kd->...k", weights, pool, x)


# --- closed forms (noiseless isotropic x, w ~ N(0, I_d); error normalised by d) ---

def least_squares_risk(k, dim: int):
  """Normalised min-norm least-squares error with k examples: max(1 - k/d, 0)."""
  return jnp.maximum(1.0 - jnp.asarray(k, jnp.float32) / dim, 0.0)


def averaging_risk(k, dim: int, noise_var: float = 0.0):
  """Normalised averaging error with k >= 1 examples: (d + 1 + sigma^2)/k (noiseless
  query target; the label noise enters through the k context labels)."""
  return (dim + 1 + noise_var) / jnp.asarray(k, jnp.float32)


def noisy_least_squares_risk(k, dim: int, noise_var: float):
  """Normalised least-squares error against the noisy target y (double descent):
  (1 - k/d) + sigma^2 k/(d (d - k - 1)) + sigma^2/d for k < d - 1, and
  sigma^2/(k - d - 1) + sigma^2/d for k > d + 1 (infinite in between)."""
  k = jnp.asarray(k, jnp.float32)
  under = (1 - k / dim) + noise_var * k / (dim * (dim - k - 1)) + noise_var / dim
  over = noise_var / (k - dim - 1) + noise_var / dim
  return jnp.where(k < dim - 1, under, jnp.where(k > dim + 1, over, jnp.inf))
