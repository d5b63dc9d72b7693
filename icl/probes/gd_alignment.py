"""LSA vs gradient descent: the effective preconditioner, the initial guess, and
von Oswald et al.'s sensitivity alignment (docs/linear_gd.md, "Probes").

Read off one seed's params of the `lsa` model (icl/models/lsa.py) on a regression
task; every value is a scalar:

  gamma_scale      mean diag Gamma_eff, Gamma_eff = c sum_h W_OV^h[-1] W_KQ^h[:d, :d]
                   of the first layer (c = n_train for norm 'none', else 1): the
                   preconditioner of the one-step GD the layer implements (Ahn et al.)
  gamma_offdiag    max |off-diagonal entry| of Gamma_eff
  gamma_rel_err    |Gamma_eff - Gamma*|_F / |Gamma*|_F, Gamma* the optimal
                   preconditioner of the task (theory.linear_gd.optimal_preconditioner)
  theta_proj       theta^T mu / |mu|^2 (-> 1 when y_q-LSA learns GD from the prior
                   mean); theta_err |theta - mu|; guess 'theta' only
  guess_scalar     the trained constant c; guess 'scalar' only
  sens_cos         mean over the probe prompts of cos(d yhat/d x_q, d yhat_GD/d x_q),
                   yhat_GD one step of GD from mu with Gamma* (von Oswald et al.'s
                   alignment; scale-free in an isotropic Gamma when mu = 0)
  pred_diff        mean |yhat - yhat_GD| on the probe prompts
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from icl import models
from icl.models import base
from theory import linear_gd

Array = jax.Array


def reference(task):
  """(mu [d], Gamma* [d, d]) of a regression task: GD from the prior mean with the
  optimal preconditioner (tau^2 = prior_scale^2 / d, sigma^2 = noise_var)."""
  d = task.dim
  mu = jnp.full((d,), task.prior_mean, jnp.float32)
  tau2 = task.prior_scale ** 2 / d
  cov = jnp.asarray(task.covariance_matrix(), jnp.float32)
  return mu, linear_gd.optimal_preconditioner(cov, task.context_len, tau2, task.noise_var)


def effective_preconditioner(w_kq: Array, w_ov: Array, d: int, scale: float = 1.0) -> Array:
  """Gamma_eff = scale * sum_h W_OV^h[-1] W_KQ^h[:d, :d]: w_kq [H, D, D], w_ov [H, D]
  -> [d, d] (the y-value times the x-x score block: yhat ~ (1/n) sum y_i x_i^T G x_q)."""
  return scale * jnp.einsum("h,hij->ij", w_ov[:, d], w_kq[:, :d, :d])


def weight_probes(params, task, cfg) -> dict[str, Array]:
  """The preconditioner and initial-guess probes of one seed (module docstring)."""
  d = task.dim
  layers = models.MODELS["lsa"].merged_weights(params, cfg)
  w_kq, w_ov = layers["l0"]
  scale = task.context_len if cfg.norm == "none" else 1.0
  gamma = effective_preconditioner(w_kq, w_ov, d, scale)
  mu, gstar = reference(task)
  off = gamma - jnp.diag(jnp.diag(gamma))
  out = {"gamma_scale": jnp.mean(jnp.diag(gamma)),
         "gamma_offdiag": jnp.max(jnp.abs(off)),
         "gamma_rel_err": jnp.linalg.norm(gamma - gstar) / jnp.linalg.norm(gstar)}
  if cfg.guess == "theta":
    theta = base.value(params["theta"])
    mu_sq = jnp.sum(mu * mu)
    out["theta_proj"] = jnp.where(mu_sq > 0, theta @ mu / jnp.where(mu_sq > 0, mu_sq, 1.0),
                                  jnp.linalg.norm(theta))
    out["theta_err"] = jnp.linalg.norm(theta - mu)
  if cfg.guess == "scalar":
    out["guess_scalar"] = base.value(params["guess_scalar"])
  return out


def sensitivity_probes(predict, batch, task) -> dict[str, Array]:
  """sens_cos and pred_diff of `predict` (batch -> [B]) against GD from mu with Gamma*."""
  mu, gstar = reference(task)
  gd = lambda xq: linear_gd.gd_init_predict(batch["x"], batch["y"], xq, mu, gstar)
  model = lambda xq: predict({**batch, "xq": xq})
  # Each prediction depends on its own prompt's x_q only: the gradient of the sum is
  # the per-prompt gradient.
  g_model = jax.grad(lambda xq: jnp.sum(model(xq)))(batch["xq"])
  g_gd = jax.grad(lambda xq: jnp.sum(gd(xq)))(batch["xq"])
  return {"sens_cos": linear_gd.sensitivity_cosine(g_model, g_gd),
          "pred_diff": jnp.mean(jnp.abs(model(batch["xq"]) - gd(batch["xq"])))}


def applies(model_name: str, task) -> bool:
  """The `lsa` model on a single-output regression task (one with a prior mean)."""
  return (model_name == "lsa" and task.num_outputs == 1
          and hasattr(task, "prior_mean") and hasattr(task, "covariance_matrix"))


def probes(ctx, params, batch) -> dict[str, Array]:
  """Every probe of this family for one seed (`icl.probes.recording.compute`)."""
  out = weight_probes(params, ctx.task, ctx.model)
  out.update(sensitivity_probes(lambda b: ctx.apply(params, b), batch, ctx.task))
  return out


