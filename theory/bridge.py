"""From trained attention weights to the reduced model's numbers (pure arrays).

See docs/regression.md, "Model" (merged parameters) and "What emerges"
(the four patterns, dummy heads) (He, Pan, Chen, Yang, ICML 2025). No model code is
imported: the caller passes the merged weights as arrays.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from theory import reduced

Array = jax.Array

DUMMY_THRESHOLD = 0.7  # paper: heads with |diag A|_2 / |A|_F <= 0.7 are dummies


def reduced_params(w_kq: Array, w_ov: Array, d: int, L: int, s2: float,
                   dummy_threshold: float = DUMMY_THRESHOLD) -> dict[str, Array]:
  """Reads (omega_h, mu_h) off merged weights and predicts the reduced risk.

  Args:
    w_kq: [H, D, D] merged K_h^T Q_h / sqrt(D), D = d + 1 (rows: key coordinate,
      columns: query coordinate; the 1/sqrt(D) scale already included).
    w_ov: [H, D] merged (O_h V_h)^T.
    d, L, s2: data dimension, prompt length and noise variance for Ltilde.
  Returns:
    dict with
      omega: [H]      mean(diag(A_h)), A_h = w_kq[h, :d, :d];
      mu: [H]         w_ov[h, -1];
      diag_ratio: [H] |diag A_h|_2 / |A_h|_F;
      dummy: [H]      diag_ratio <= dummy_threshold (bool);
      eta: []         sum over active heads of mu_h omega_h;
      mu_sum: []      sum over all heads of mu_h (zero-sum OV pattern);
      reduced_loss: [] Ltilde at the active heads' (omega, mu) (dummies dropped).
  """
  a = w_kq[:, :d, :d]
  diag = jnp.diagonal(a, axis1=-2, axis2=-1)                   # [H, d]
  omega = jnp.mean(diag, axis=-1)
  mu = w_ov[:, -1]
  diag_ratio = jnp.linalg.norm(diag, axis=-1) / jnp.linalg.norm(a, axis=(-2, -1))
  dummy = diag_ratio <= dummy_threshold
  mu_active = jnp.where(dummy, 0.0, mu)  # a head with mu = 0 drops out of Ltilde
  return {
      "omega": omega,
      "mu": mu,
      "diag_ratio": diag_ratio,
      "dummy": dummy,
      "eta": jnp.sum(mu_active * omega),
      "mu_sum": jnp.sum(mu),
      "reduced_loss": reduced.reduced_loss(omega, mu_active, d, L, s2),
  }
