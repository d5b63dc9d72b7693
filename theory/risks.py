"""Closed-form population risks of linear in-context predictors.

See docs/regression.md, "Theory" and "Targets" (He, Pan, Chen, Yang,
ICML 2025). Unless a docstring says otherwise the data are

  beta ~ N(0, s^2 I_d / d) (s = prior_scale = 1 by default, so E|beta|^2 = 1),
  x_1..x_L, x_q ~ N(0, I_d) i.i.d., y = beta^T x + eps, eps ~ N(0, sigma^2),

and the risk E (yhat - y_q)^2 includes the query noise sigma^2 (s2 = sigma^2).
All functions are plain jax.numpy on scalars/arrays and are jit/vmap friendly.

The one Gaussian identity behind every finite-L formula here: for x ~ N(0, Lam)
and a fixed vector b, E[x x^T b b^T x x^T] = 2 Lam b b^T Lam + (b^T Lam b) Lam.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array


def _gd_excess(d, L, s2, prior_scale=1.0):
  """(d + 1 + d s2 / s^2)/L: relative variance of the one-step GD direction."""
  return (d + 1 + d * s2 / prior_scale**2) / L


def gd_risk(eta, d, L, s2, prior_scale=1.0):
  """Exact finite-L risk of one-step GD, yhat = (eta/L) sum_l y_l x_l^T xq.

  With g = (1/L) sum_l y_l x_l, E[g | beta] = beta and, by the Gaussian identity,
  E|g - beta|^2 = ((d + 1)|beta|^2 + d sigma^2)/L. Averaging over beta
  (E|beta|^2 = s^2) gives the paper's formula (s = 1):

    R(eta) = s2 + s^2 - 2 eta s^2 + eta^2 (s^2 (1 + (d+1)/L) + d s2 / L)
           = 1 + s2 - 2 eta + eta^2 (1 + (d + 1 + d s2)/L)        (s = 1).

  Exact for every L (no asymptotics). Assumes isotropic x, zero-mean beta.
  """
  s_sq = prior_scale**2
  return s2 + s_sq - 2 * eta * s_sq + eta**2 * s_sq * (1 + _gd_excess(d, L, s2, prior_scale))


def gd_opt_step(d, L, s2, prior_scale=1.0):
  """eta* = argmin gd_risk = L / (L + d + 1 + d s2 / s^2)."""
  return 1.0 / (1.0 + _gd_excess(d, L, s2, prior_scale))


def gd_opt_risk(d, L, s2, prior_scale=1.0):
  """R(eta*) = s2 + s^2 (1 - eta*) = s2 + s^2 (d+1+d s2/s^2)/(L+d+1+d s2/s^2).

  This is also the optimal single-layer linear-attention risk for isotropic data
  (see `linear_attention_opt_risk`): the two formulas are algebraically equal.
  """
  return s2 + prior_scale**2 * (1.0 - gd_opt_step(d, L, s2, prior_scale))


def debiased_gd_risk(eta, d, L, s2):
  """Exact finite-L risk of debiased GD, yhat = (eta/L) sum_l (y_l - ybar) x_l^T xq.

  Write g = (1/L) X^T P y with P = I - 1 1^T / L. For Gaussian rows X^T P X is
  Wishart with n = L - 1 degrees of freedom, so E[g | beta] = (n/L) beta and
  E|g|^2 = (n (n + 1 + d) |beta|^2 + n d sigma^2)/L^2. With E|beta|^2 = 1:

    R(eta) = 1 + s2 - 2 eta n/L + eta^2 n (n + 1 + d + d s2)/L^2,   n = L - 1.

  It is plain one-step GD with L replaced by L - 1 in the sample count: centring
  costs one sample. This is the omega -> 0 limit of a zero-sum softmax pair.
  """
  n = L - 1
  return 1 + s2 - 2 * eta * n / L + eta**2 * n * (n + 1 + d + d * s2) / L**2


def debiased_gd_opt_step(d, L, s2):
  """argmin debiased_gd_risk = L / (L + d (1 + s2)) -- equal to the reduced eta_inf."""
  return L / (L + d * (1 + s2))


def debiased_gd_opt_risk(d, L, s2):
  """Minimum of debiased_gd_risk: s2 + (1 + d(1+s2)) / (L + d(1+s2))."""
  return s2 + (1 + d * (1 + s2)) / (L + d * (1 + s2))


def preconditioned_gd_risk(gamma, cov, L, s2, prior_scale=1.0):
  """Exact risk of yhat = (1/L) sum_l y_l x_l^T Gamma xq for x ~ N(0, Lam).

  Let c = s^2/d (beta ~ N(0, c I)), w = Gamma^T g, g = (1/L) sum_l y_l x_l. By the
  Gaussian identity E[g g^T] = c (1 + 1/L) Lam^2 + (c tr Lam + s2) Lam / L and
  E[g beta^T] = c Lam, so

    R(Gamma) = s2 + c tr Lam - 2 c tr(Lam Gamma^T Lam) + tr(Gamma Lam Gamma^T M),
    M = E[g g^T].

  Args:
    gamma: [d, d] preconditioner. cov: [d, d] covariate covariance Lam.
  """
  d = cov.shape[-1]
  c = prior_scale**2 / d
  m = c * (1 + 1 / L) * cov @ cov + (c * jnp.trace(cov) + s2) * cov / L
  return (s2 + c * jnp.trace(cov) - 2 * c * jnp.trace(cov @ gamma.T @ cov)
          + jnp.trace(gamma @ cov @ gamma.T @ m))


def optimal_preconditioner(cov, L, s2, prior_scale=1.0):
  """Gamma* = ((1 + 1/L) Lam + (tr Lam + d s2 / s^2)/L I)^{-1}.

  Setting the gradient of `preconditioned_gd_risk` to zero gives M Gamma* = c Lam.
  This is the optimum of one-layer linear attention found by Ahn et al. (2023,
  "Transformers learn to implement preconditioned gradient descent", Thm 1) and
  Zhang, Frei & Bartlett (2023, "Trained transformers learn linear models
  in-context", global minimiser). Those papers use beta ~ N(0, I), where the
  noise enters as tr Lam + s2; with our beta ~ N(0, s^2 I/d) it enters as
  tr Lam + d s2 / s^2 (docs/regression.md, "Theory", states both forms).
  """
  d = cov.shape[-1]
  return jnp.linalg.inv((1 + 1 / L) * cov
                        + (jnp.trace(cov) + d * s2 / prior_scale**2) / L * jnp.eye(d))


def linear_attention_opt_step(d, L, s2):
  """Isotropic optimal linear-attention step gamma* = L / (L + 1 + d (1 + s2)).

  Gamma* of `optimal_preconditioner` at Lam = I, beta ~ N(0, I/d). Algebraically
  the same number as `gd_opt_step` (1 + d(1+s2) = d + 1 + d s2): both are exact.
  """
  return L / (L + 1 + d * (1 + s2))


def linear_attention_opt_risk(d, L, s2):
  """s2 + (1 + d(1+s2)) / (L + 1 + d(1+s2)), exact; equals `gd_opt_risk`."""
  return s2 + (1 + d * (1 + s2)) / (L + 1 + d * (1 + s2))


def ridge_risk_proportional(d, L, s2):
  """Bayes/ridge (lambda = d s2) risk in the proportional limit d, L -> inf, d/L = xi.

    R = 1/2 [s2 + 1 - 1/xi + sqrt(4 s2 + (s2 + 1/xi - 1)^2)],

  the Marchenko-Pastur limit of s2 + s2 E tr (X^T X + d s2 I)^{-1}
  (docs/regression.md, "Theory"; includes the query noise). At finite d, L it is
  an approximation; the exact value is `theory.montecarlo.bayes_risk_mc` (at d = 5,
  L = 40, s2 = 0.1 the gap is about 4e-4, see tests/theory/test_risks.py).
  """
  inv_xi = L / d
  return 0.5 * (s2 + 1 - inv_xi + jnp.sqrt(4 * s2 + (s2 + inv_xi - 1) ** 2))


def gd_opt_risk_proportional(xi, s2):
  """Optimal one-step GD risk in the proportional limit d, L -> inf, d/L = xi.

  The limit of `gd_opt_risk`: (d + 1 + d s2)/L -> xi (1 + s2), so
  eta* -> 1/(1 + xi (1 + s2)) and R -> 1 + s2 - 1/(1 + xi (1 + s2)). Compared with
  `ridge_risk_proportional` at the same (xi, s2) it shows what one step of GD loses
  against Bayes; the paper's high-noise example xi = 0.2, s2 = 3 gives 3.444 vs
  3.405 (docs/regression.md, "Targets").
  """
  return 1 + s2 - 1 / (1 + xi * (1 + s2))


def fixed_norm_length_risk(eta, d, L, L_train, s2):
  """Risk at prompt length L of linear attention trained with the fixed normaliser
  n = L_train: yhat = (eta / L_train) sum_{l <= L} y_l x_l^T xq, one-step GD with
  step eta L / L_train on a prompt of length L (`gd_risk`). It grows like
  (L / L_train)^2 once eta L / L_train exceeds the step that `gd_risk` tolerates:
  the blow-up of a fixed-normaliser linear attention on long prompts.
  """
  return gd_risk(eta * L / L_train, d, L, s2)
