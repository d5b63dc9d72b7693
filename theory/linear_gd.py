"""Linear self-attention (LSA) and gradient descent (GD) for in-context regression.

See docs/linear_gd.md (sections named there). Sources: von Oswald et al., ICML 2023
(K LSA layers ~ K GD steps; the GD construction of their Prop. 1); Ahn, Cheng,
Daneshmand & Sra, NeurIPS 2023 (one-layer optimum = one step of preconditioned GD);
Zhang, Frei & Bartlett, JMLR 2024 (the gradient-flow limit Gamma* and its risk under
length and covariate shift); Xie, Yuan, Rossi & Hannagan, arXiv 2512.04268 (a nonzero
prior mean, the head count, the initial guess y_q). Formulas for the Xie et al. setting
are the reconstruction in docs/linear_gd.md, "What is read and what is reconstructed".

Data (docs/linear_gd.md, "Notation"): w ~ N(mu, tau2 I_d), x_1..x_n, x_q ~ N(0, Sigma),
y = w^T x + eps, eps ~ N(0, s2); risks are E(yhat - y_q)^2 **without** a 1/2 and
include the query noise s2. S = (1/n) sum_i x_i x_i^T, h(w0) = (1/n) sum_i
(y_i - w0^T x_i) x_i. Plain jax.numpy; imports nothing of icl.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array


# --- predictors: f(x [..., n, d], y [..., n], xq [..., d], ...) -> yhat [...] ----------


def gd_init_predict(x: Array, y: Array, xq: Array, w0: Array, gamma: Array) -> Array:
  """One step of preconditioned GD on L(w) = (1/2n) sum_i (w^T x_i - y_i)^2 from w0.

  yhat = w0^T xq + xq^T Gamma^T h(w0); plain GD with step eta is Gamma = eta I
  (docs/linear_gd.md, "One step of GD from an initialisation").

  Args:
    x: [..., n, d]; y: [..., n]; xq: [..., d].
    w0: [d] or [..., d] initialisation. gamma: scalar or [d, d] preconditioner.
  Returns: [...] predictions.
  """
  w0 = jnp.broadcast_to(w0, xq.shape)
  resid = y - jnp.einsum("...nd,...d->...n", x, w0)
  h = jnp.einsum("...nd,...n->...d", x, resid) / x.shape[-2]
  gamma = jnp.asarray(gamma)
  step = gamma * h if gamma.ndim == 0 else jnp.einsum("ij,...i->...j", gamma, h)
  return jnp.einsum("...d,...d->...", w0 + step, xq)


def gd_multistep_predict(x: Array, y: Array, xq: Array, eta, num_steps: int,
                         w0: Array | None = None) -> Array:
  """`num_steps` steps of GD with one step size `eta` (scalar or [d, d]) from w0 (0).

  w_{k+1} = w_k + eta h(w_k); yhat = w_K^T xq (von Oswald et al. 2023, Sec. 2-3).
  Shapes as `gd_init_predict`.
  """
  w = jnp.zeros(xq.shape, xq.dtype) if w0 is None else jnp.broadcast_to(w0, xq.shape)
  eta = jnp.asarray(eta)
  n = x.shape[-2]
  for _ in range(num_steps):  # K is small and static
    h = jnp.einsum("...nd,...n->...d", x, y - jnp.einsum("...nd,...d->...n", x, w)) / n
    w = w + (eta * h if eta.ndim == 0 else jnp.einsum("ij,...i->...j", eta, h))
  return jnp.einsum("...d,...d->...", w, xq)


def tune_gd_step(batch: dict, num_steps: int, etas: Array,
                 w0: Array | None = None) -> tuple[Array, Array]:
  """The grid step minimising the empirical MSE of K-step GD on `batch`.

  von Oswald et al. tune their GD baseline on a grid of step sizes on 10^4 tasks.
  Args: batch with x [B, n, d], y [B, n], xq [B, d], yq [B]; etas [E].
  Returns: (best eta [], MSE of each grid step [E]) (MSE without 1/2).
  """
  def mse(eta):
    pred = gd_multistep_predict(batch["x"], batch["y"], batch["xq"], eta, num_steps, w0)
    return jnp.mean(jnp.square(pred - batch["yq"]))
  losses = jax.lax.map(mse, jnp.asarray(etas))
  return jnp.asarray(etas)[jnp.argmin(losses)], losses


def bayes_mean_predict(x: Array, y: Array, xq: Array, mu: Array, tau2: float,
                       s2: float) -> Array:
  """Posterior-mean predictor for w ~ N(mu, tau2 I):

  yhat = xq^T [mu + (X^T X + (s2/tau2) I)^{-1} X^T (y - X mu)]
  (docs/linear_gd.md, "Bayes with a prior mean"). With s2 = 0 and n >= d it
  interpolates (least squares). Shapes as `gd_init_predict`; mu: [d].
  """
  d = x.shape[-1]
  mu = jnp.broadcast_to(mu, xq.shape)
  gram = jnp.einsum("...nd,...ne->...de", x, x) + (s2 / tau2) * jnp.eye(d, dtype=x.dtype)
  resid = y - jnp.einsum("...nd,...d->...n", x, mu)
  w = mu + jnp.linalg.solve(gram, jnp.einsum("...nd,...n->...d", x, resid)[..., None])[..., 0]
  return jnp.einsum("...d,...d->...", w, xq)


# --- closed-form risks ---------------------------------------------------------------


def gd_init_risk(gamma: Array, cov: Array, n: int, tau2: float, mean_gap: Array,
                 s2: float) -> Array:
  """Exact risk of `gd_init_predict` for x ~ N(0, Sigma), w ~ N(mu, tau2 I).

  With m = mu - w0 (`mean_gap`), M = Gamma^T and A = M^T Sigma M,

    D = ((n+1)/n) Sigma A Sigma + (tr(A Sigma)/n) Sigma - Sigma M^T Sigma
        - Sigma M Sigma + Sigma
    R = tr(D (tau2 I + m m^T)) + (s2/n) tr(A Sigma) + s2,

  from E[S A S] = ((n+1)/n) Sigma A Sigma + (tr(A Sigma)/n) Sigma (Wishart).
  Args: gamma [d, d] (or a scalar: gamma I); cov [d, d]; mean_gap [d]. Returns [].
  """
  cov = jnp.asarray(cov)
  d = cov.shape[0]
  gamma = jnp.asarray(gamma)
  g = gamma * jnp.eye(d) if gamma.ndim == 0 else gamma
  m_t = g.T
  a = m_t.T @ cov @ m_t
  tr_as = jnp.trace(a @ cov)
  dmat = ((n + 1) / n * cov @ a @ cov + tr_as / n * cov - cov @ m_t.T @ cov
          - cov @ m_t @ cov + cov)
  m = jnp.asarray(mean_gap)
  return jnp.trace(dmat @ (tau2 * jnp.eye(d) + jnp.outer(m, m))) + s2 / n * tr_as + s2


def gd_init_opt_step(d: int, n: int, tau2: float, mean_gap_sq: float, s2: float):
  """gamma* = n / (n + 1 + d + s2 d / B), B = tau2 d + |mu - w0|^2 (Sigma = I)."""
  b = tau2 * d + mean_gap_sq
  return n / (n + 1 + d + s2 * d / b)


def gd_init_opt_risk(d: int, n: int, tau2: float, mean_gap_sq: float, s2: float):
  """R(gamma*) = B (1 - gamma*) + s2 for Sigma = I: GD from the prior mean removes
  |mu|^2 from B, GD from 0 keeps it."""
  b = tau2 * d + mean_gap_sq
  return b * (1 - gd_init_opt_step(d, n, tau2, mean_gap_sq, s2)) + s2


def optimal_preconditioner(cov: Array, n: int, tau2: float, s2: float) -> Array:
  """Gamma* = [((n+1)/n) Sigma + ((tr Sigma + s2/tau2)/n) I]^{-1} (w0 = mu = 0).

  Ahn et al. 2023 Thm 1 and Zhang, Frei & Bartlett's limit for s2 = 0, tau2 = 1.
  cov: [d, d] -> [d, d].
  """
  cov = jnp.asarray(cov)
  d = cov.shape[0]
  return jnp.linalg.inv((n + 1) / n * cov + (jnp.trace(cov) + s2 / tau2) / n * jnp.eye(d))


def uniform_gd_opt(d: int, n: int, input_range: float = 1.0):
  """One-step GD from 0 for x ~ U(-r/2, r/2)^d, w ~ N(0, I), no noise (von Oswald).

  With s^2 = r^2/12 the variance and kappa = 9/5 the kurtosis of a uniform
  coordinate, eta* = n / (s^2 (n + kappa + d - 2)) and the 1/2-MSE loss is
  (1/2) s^2 d (kappa + d - 2) / (n + kappa + d - 2).
  Returns: (eta*, half-MSE loss at eta*).
  """
  s_sq, kappa = input_range**2 / 12, 9 / 5
  eta = n / (s_sq * (n + kappa + d - 2))
  return eta, 0.5 * s_sq * d * (kappa + d - 2) / (n + kappa + d - 2)


def zfb_risk(gamma: Array, cov_test: Array, m: int) -> Array:
  """Risk of yhat = xq^T Gamma (1/M) sum_{i<=M} y_i x_i (Zhang, Frei & Bartlett).

  Test data x ~ N(0, Lam_t), w ~ N(0, I), no noise, prompt length M:

    R = ((M+1)/M) tr(Lam_t G^T Lam_t G Lam_t) + tr(G^T Lam_t G Lam_t) tr(Lam_t)/M
        - 2 tr(G Lam_t^2) + tr(Lam_t).
  MSE without 1/2 (ZFB report half of it). gamma, cov_test: [d, d]. Returns [].
  """
  g, lam = jnp.asarray(gamma), jnp.asarray(cov_test)
  gtg = g.T @ lam @ g
  return ((m + 1) / m * jnp.trace(lam @ gtg @ lam) + jnp.trace(gtg @ lam) * jnp.trace(lam) / m
          - 2 * jnp.trace(g @ lam @ lam) + jnp.trace(lam))


def zfb_risk_inf(gamma: Array, cov_test: Array) -> Array:
  """M -> infinity: tr[(Gamma Lam_t - I)^T Lam_t (Gamma Lam_t - I)] (O(1) under shift)."""
  g, lam = jnp.asarray(gamma), jnp.asarray(cov_test)
  e = g @ lam - jnp.eye(lam.shape[0])
  return jnp.trace(e.T @ lam @ e)


# --- one LSA layer over all head counts ------------------------------------------------


def lsa_head_bound(d: int) -> int:
  """d + 1 heads realise every one-layer masked LSA predictor (docs/linear_gd.md,
  "Head count"): the mode-1 unfolding of T = sum_h p_h (x) KQ_h has d + 1 rows."""
  return d + 1


def lsa_tensor(kq: Array, p: Array) -> Array:
  """T_abc = sum_h p_h[a] KQ_h[b, c]: kq [H, D, D], p [H, D] -> [D, D, D].

  The masked one-layer prediction is yhat - yhat0 = sum_abc T_abc G_ab zq_c with
  G = (1/n) sum_i z_i z_i^T: it depends on the heads only through T.
  """
  return jnp.einsum("ha,hbc->abc", p, kq)


def heads_from_tensor(t: Array) -> tuple[Array, Array]:
  """D = d+1 heads (kq [D, D, D], p [D, D]) with the same T: SVD of the unfolding
  T_(1) = U S V^T gives p_r = U[:, r] S_r and KQ_r = V[:, r] reshaped."""
  dd = t.shape[0]
  u, s, vt = jnp.linalg.svd(t.reshape(dd, dd * dd), full_matrices=False)
  return vt.reshape(dd, dd, dd), (u * s).T


def lsa_predict(x: Array, y: Array, xq: Array, kq: Array, p: Array,
                yq0: Array | float = 0.0, masked: bool = True) -> Array:
  """One LSA layer read at the query's label slot (docs/linear_gd.md, "The model").

  yhat = yq0 + sum_h p_h^T G KQ_h z_q, G = (1/n) sum_{i<=n} z_i z_i^T (+ z_q z_q^T when
  not masked, divisor still n), z_i = (x_i, y_i), z_q = (x_q, yq0).
  Args: x [B, n, d], y [B, n], xq [B, d], kq [H, D, D], p [H, D], yq0 scalar or [B].
  Returns: [B].
  """
  yq0 = jnp.broadcast_to(jnp.asarray(yq0, xq.dtype), xq.shape[:-1])
  z = jnp.concatenate([x, y[..., None]], -1)
  zq = jnp.concatenate([xq, yq0[..., None]], -1)
  g = jnp.einsum("Bna,Bnb->Bab", z, z)
  if not masked:
    g = g + jnp.einsum("Ba,Bb->Bab", zq, zq)
  g = g / x.shape[-2]
  return yq0 + jnp.einsum("ha,Bab,hbc,Bc->B", p, g, kq, zq)


def lsa_features(x: Array, y: Array, xq: Array, yq0: Array | None = None) -> Array:
  """phi = upper-tri(G) (x) z_q: the features in which every one-layer masked LSA
  (any H) is linear. z_q = (x_q, yq0) with yq0 [B] (None: x_q alone, the label slot
  is 0 and multiplies nothing). Off-diagonal G entries count once (G symmetric).
  Returns: [B, D(D+1)/2 * len(z_q)]."""
  z = jnp.concatenate([x, y[..., None]], -1)
  g = jnp.einsum("Bna,Bnb->Bab", z, z) / x.shape[-2]
  iu = np.triu_indices(z.shape[-1])
  zq = xq if yq0 is None else jnp.concatenate([xq, yq0[..., None]], -1)
  return jnp.einsum("Bf,Bc->Bfc", g[:, iu[0], iu[1]], zq).reshape(x.shape[0], -1)


def best_lsa_risk(sample_fn: Callable, key: Array, num_fit: int, num_eval: int,
                  batch_size: int, guess_fn: Callable | None = None,
                  ridge: float = 1e-8) -> tuple[Array, Array]:
  """Risk of the best one-layer masked LSA over all head counts, by least squares.

  Fits the target y_q - yhat0 on `lsa_features` with normal equations accumulated
  over `num_fit` prompts (`lax.map` over batches), then scores fresh `num_eval`
  prompts. The in-sample overfitting bias of the fit is ~ p/num_fit * R.
  Args:
    sample_fn: (key, batch_size) -> batch with x, y, xq, yq.
    guess_fn: batch -> yhat0 [B] (None: yhat0 = 0, the label slot carries nothing).
  Returns: (risk, its Monte-Carlo standard error), MSE without 1/2.
  """
  k_fit, k_eval = jax.random.split(key)

  def feats(b):
    g0 = None if guess_fn is None else guess_fn(b)
    phi = lsa_features(b["x"], b["y"], b["xq"], g0)
    return phi, b["yq"] - (0.0 if g0 is None else g0)

  def fit_batch(i):
    phi, t = feats(sample_fn(jax.random.fold_in(k_fit, i), batch_size))
    phi = phi.astype(jnp.float64) if jax.config.jax_enable_x64 else phi
    return phi.T @ phi, phi.T @ t

  @jax.jit
  def fit():
    a, b = jax.lax.map(fit_batch, jnp.arange(-(-num_fit // batch_size)))
    a, b = a.sum(0), b.sum(0)
    scale = jnp.trace(a) / a.shape[0]
    return jnp.linalg.solve(a + ridge * scale * jnp.eye(a.shape[0], dtype=a.dtype), b)

  coef = fit()

  def eval_batch(i):
    phi, t = feats(sample_fn(jax.random.fold_in(k_eval, i), batch_size))
    e = jnp.square(phi @ coef.astype(phi.dtype) - t)
    return e.mean(), jnp.square(e).mean()

  m1, m2 = jax.jit(lambda: jax.lax.map(eval_batch, jnp.arange(-(-num_eval // batch_size))))()
  n = m1.shape[0] * batch_size
  mean = m1.mean()
  return mean, jnp.sqrt(jnp.maximum(m2.mean() - mean**2, 0.0) / n)


# --- von Oswald et al.'s GD construction ------------------------------------------------


def von_oswald_gd_weights(d: int, eta: float, n: int, w0: Array | None = None
                          ) -> dict[str, Array]:
  """The weights of von Oswald et al.'s Prop. 1: one LSA layer = one GD step from w0.

  W_K = W_Q = [[I_d, 0], [0, 0]], W_V = [[0, 0], [w0^T, -1]], P = (eta/n) I (no 1/n
  inside the layer, readout yhat = -(label slot of the query)); the query token is
  (x_q, -w0^T x_q). Returns {'query', 'key', 'value', 'proj'}: [D, D] each (row =
  output coordinate), D = d + 1.
  """
  dd = d + 1
  wk = jnp.zeros((dd, dd)).at[:d, :d].set(jnp.eye(d))
  w0 = jnp.zeros(d) if w0 is None else jnp.asarray(w0)
  wv = jnp.zeros((dd, dd)).at[d, :d].set(w0).at[d, d].set(-1.0)
  return {"query": wk, "key": wk, "value": wv, "proj": eta / n * jnp.eye(dd)}


def von_oswald_layer(e: Array, w: dict[str, Array], num_context: int) -> Array:
  """e_j <- e_j + P sum_{i<=N} v_i (k_i^T q_j) for all tokens j (keys and values from
  the N context tokens only). e: [B, N+1, D]; w as `von_oswald_gd_weights`."""
  q = e @ w["query"].T
  k = e[:, :num_context] @ w["key"].T
  v = e[:, :num_context] @ w["value"].T
  return e + jnp.einsum("bij,bid,ed->bje", jnp.einsum("bid,bjd->bij", k, q), v, w["proj"])


def sensitivity_cosine(grad_a: Array, grad_b: Array) -> Array:
  """von Oswald et al.'s alignment: mean over prompts of cos(d yhat_a/d x_q,
  d yhat_b/d x_q). grad_a, grad_b: [B, d] -> []."""
  num = jnp.sum(grad_a * grad_b, -1)
  den = jnp.linalg.norm(grad_a, axis=-1) * jnp.linalg.norm(grad_b, axis=-1)
  return jnp.mean(num / jnp.maximum(den, 1e-30))
