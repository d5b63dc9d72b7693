"""Reduced model of multi-head softmax attention: loss, optima, and dynamics.

See docs/regression.md, "Theory" (He, Pan, Chen, Yang, ICML 2025,
arXiv 2503.12734). With the four emergent patterns the trained layer is the kernel
estimator yhat = sum_h mu_h sum_l y_l softmax_l(omega_h x_l^T xq)
(`theory.predictors.kernel_predict`), described by omega, mu in R^H. Data as in
`theory.risks`: beta ~ N(0, I/d), x ~ N(0, I), noise sigma^2 = s2.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array


def reduced_loss(omega: Array, mu: Array, d, L, s2) -> Array:
  """The paper's approximate population loss of the reduced model (large L).

    Ltilde(omega, mu) = 1 + s2 - 2 mu^T omega
                        + mu^T [omega omega^T + ((1+s2)/L) exp.(d omega omega^T)] mu.

  Exact at L = inf (where yhat -> (mu^T omega) beta^T xq); its 1/L term replaces
  |xq|^2 by d and drops the O(omega^2)/L signal terms, so for finite L it is off by
  Theta(1/L) (see `kernel_risk_first_order`).

  Args:
    omega, mu: [..., H]. Returns: [...].
  """
  quad = omega[..., :, None] * omega[..., None, :]
  mat = quad + (1 + s2) / L * jnp.exp(d * quad)
  return (1 + s2 - 2 * jnp.sum(mu * omega, -1)
          + jnp.einsum("...h,...hk,...k->...", mu, mat, mu))


def optimal_mu(omega: Array, d, L, s2) -> Array:
  """mu*(omega) = argmin_mu Ltilde = [omega omega^T + ((1+s2)/L) exp.(d omega omega^T)]^{-1} omega.

  The matrix is positive definite for distinct omegas (exp.(d w w^T) is a
  Gaussian-kernel Gram matrix). omega: [..., H] -> [..., H].
  """
  quad = omega[..., :, None] * omega[..., None, :]
  mat = quad + (1 + s2) / L * jnp.exp(d * quad)
  return jnp.linalg.solve(mat, omega[..., None])[..., 0]


def single_head_optimum(d, L, s2):
  """(omega*, mu*, Ltilde*) for H = 1.

  For one head Ltilde(mu*(w)) = 1 + s2 - w^2/(w^2 + c e^{d w^2}), c = (1+s2)/L,
  minimised where e^{d t}/t is, t = w^2 = 1/d. So omega* = 1/sqrt(d),
  mu* = sqrt(d)/(1 + c d e), Ltilde* = 1 + s2 - 1/(1 + c d e).
  """
  c = (1 + s2) / L
  omega = 1 / np.sqrt(d)
  mu = np.sqrt(d) / (1 + c * d * np.e)
  return omega, mu, 1 + s2 - 1 / (1 + c * d * np.e)


def pair_limit(d, L, s2):
  """(eta_inf, Ltilde_inf) of a zero-sum pair as omega -> 0+, mu -> inf.

  With sum_h mu_h = 0, mu^T exp.(d w w^T) mu = d eta^2 + O(omega^4 mu^2), eta =
  mu^T omega, so Ltilde -> 1 + s2 - 2 eta + eta^2 (1 + c d):
  eta_inf = 1/(1 + (1+s2) d/L), Ltilde_inf = s2 + (1+s2) d/(L + (1+s2) d).
  eta_inf equals the exact optimal debiased-GD step (`risks.debiased_gd_opt_step`),
  but Ltilde_inf is 1/(L + (1+s2) d) below that predictor's exact risk.
  """
  eta = 1 / (1 + (1 + s2) * d / L)
  return eta, s2 + (1 + s2) * d / (L + (1 + s2) * d)


def kernel_risk_first_order(omega: Array, mu: Array, d, L, s2) -> Array:
  """Risk of the kernel estimator to first order in 1/L (delta method), exact in d.

  Per head, yhat_h = N_h / D_h with N_h = (1/L) sum_l y_l e^{w_h s_l}, D_h =
  (1/L) sum_l e^{w_h s_l}, s_l = x_l^T xq. Given (beta, xq), tilting x by
  e^{a s} shifts its mean to a xq, so with t = beta^T xq, q = |xq|^2:
    E N_h / E D_h = w_h t;
    L Cov(h, k) -> e^{w_h w_k q} (|beta|^2 + s2 + w_h w_k t^2);
    L Bias(h)   -> -e^{w_h^2 q} w_h t.
  Averaging over beta ~ N(0, I/d) and q ~ chi^2_d (E e^{a q} = (1-2a)^{-d/2},
  E t^2 e^{a q} = (1-2a)^{-d/2-1}) gives, with eta = mu^T omega,

    R1 = s2 + (1 - eta)^2
         + (1/L) sum_{hk} mu_h mu_k [(1+s2)(1 - 2 w_h w_k)^{-d/2}
                                     + w_h w_k (1 - 2 w_h w_k)^{-d/2-1}]
         - (2/L)(eta - 1) sum_h mu_h w_h (1 - 2 w_h^2)^{-d/2-1}.

  Valid for max |w_h w_k| < 1/2 (else the moments diverge). The next order
  involves E e^{3 w^2 q}-type moments, finite only for w^2 < 1/6; near that the
  expansion degrades. For a zero-sum pair as omega -> 0 it reduces to the exact
  debiased-GD risk up to O(1/L^2), and it differs from `reduced_loss` by
  Theta(1/L) (replace (1 - 2 a)^{-d/2} by e^{a d} and drop the w-terms to recover
  Ltilde).

  Args:
    omega, mu: [H]. Returns: scalar.
  """
  quad = omega[:, None] * omega[None, :]
  m0 = (1 - 2 * quad) ** (-d / 2)
  m1 = (1 - 2 * quad) ** (-d / 2 - 1)
  eta = jnp.sum(mu * omega)
  var = mu @ ((1 + s2) * m0 + quad * m1) @ mu
  bias = jnp.sum(mu * omega * jnp.diagonal(m1))
  return s2 + (1 - eta) ** 2 + var / L - 2 * (eta - 1) * bias / L


def reduced_gd(omega0: Array, mu0: Array, d, L, s2, lr: float = 0.01,
               num_steps: int = 20_000) -> dict[str, Array]:
  """Gradient descent on Ltilde/2 over (omega, mu) from a given init.

  The reduced dynamics of docs/regression.md, "Theory".

  theta_{t+1} = theta_t - lr * grad(Ltilde/2)(theta_t). With a small lr this is an
  Euler discretisation of gradient flow at time t = lr * step (`reduced_flow`).
  The paper's init is omega = mu = (+1e-3, -1e-3) (sign(mu_h) = sign(omega_h),
  sum_h mu_h = 0), lr = 0.01; the zero-sum symmetry is preserved by the flow.

  Args:
    omega0, mu0: [H] initial values.
    num_steps: number of updates (static).
  Returns:
    dict with omega: [T+1, H], mu: [T+1, H], loss: [T+1] (Ltilde, no 1/2) and
    eta: [T+1] (= mu^T omega), entry 0 being the init.
  """
  grad = jax.grad(lambda p: 0.5 * reduced_loss(p[0], p[1], d, L, s2))

  def step(params, _):
    g = grad(params)
    new = (params[0] - lr * g[0], params[1] - lr * g[1])
    return new, new

  init = (jnp.asarray(omega0, jnp.float32), jnp.asarray(mu0, jnp.float32))
  _, (omegas, mus) = jax.lax.scan(step, init, None, length=num_steps)
  omegas = jnp.concatenate([init[0][None], omegas])
  mus = jnp.concatenate([init[1][None], mus])
  return {"omega": omegas, "mu": mus,
          "loss": reduced_loss(omegas, mus, d, L, s2),
          "eta": jnp.sum(omegas * mus, -1)}


def reduced_flow(omega0: Array, mu0: Array, d, L, s2, t_max: float,
                 dt: float = 1e-3) -> dict[str, Array]:
  """Gradient flow of Ltilde/2 up to time t_max by Euler steps of size dt.

  Returns `reduced_gd`'s dict plus "time": [T+1].
  """
  num_steps = int(round(t_max / dt))
  traj = reduced_gd(omega0, mu0, d, L, s2, lr=dt, num_steps=num_steps)
  traj["time"] = dt * jnp.arange(num_steps + 1)
  return traj


def stage_boundaries(traj: dict[str, Array], frac: float = 0.05) -> dict[str, int]:
  """Splits a reduced trajectory into the paper's three stages.

  Stage 1 (slow symmetric growth): from step 0 until the loss has fallen by
  `frac` of its total drop (loss[0] - min loss). Stage 2 (fast drop): until the
  loss is within `frac` of the total drop above its minimum. Stage 3 (slow drift):
  the rest, where |omega| shrinks and |mu| grows at nearly constant eta.
  Host-side (numpy); not for use under jit.

  Returns:
    dict with "drop_start", "drop_end" (step indices), and "omega_peak": the
    step at which max_h |omega_h| peaks (the drift starts after it).
  """
  loss = np.asarray(traj["loss"])
  drop = loss[0] - loss.min()
  drop_start = int(np.argmax(loss <= loss[0] - frac * drop))
  drop_end = int(np.argmax(loss <= loss.min() + frac * drop))
  omega_peak = int(np.argmax(np.max(np.abs(np.asarray(traj["omega"])), axis=-1)))
  return {"drop_start": drop_start, "drop_end": drop_end, "omega_peak": omega_peak}
