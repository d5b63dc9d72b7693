"""A trained regression model next to the theory: the same prompts, several predictors.

For the paper's regression task (docs/regression.md, "Theory") and each prompt
length L, `theory_risks` scores on one set of fresh prompts (common random numbers,
so differences are sharper than the standard errors suggest):

  ridge        the Bayes posterior mean (ridge with lambda = d sigma^2 / s^2)
  gd_opt       one-step GD with the optimal step eta*(L) (closed form, isotropic x)
  debiased_gd  debiased one-step GD with the model's own eta = sum_h mu_h omega_h
  kernel       the kernel estimator with the model's own (omega_h, mu_h) (softmax
               models; dummy heads dropped), or the linear-attention counterpart
  reduced      the reduced loss Ltilde(omega, mu) at L (a large-L approximation that
               understates the finite-L risk by about 1/(L + d(1+sigma^2)))

The model's (omega_h, mu_h) come from `theory.reduced_params` on its merged weights.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

import theory
from icl import config_lib
from icl.models import one_layer

THEORY_NAMES = ("ridge", "gd_opt", "debiased_gd", "kernel", "reduced")


def supports(spec) -> bool:
  """Theory applies to the one-layer model on the single-output regression task."""
  return spec.source["task"]["name"] == "regression" and spec.model_name == "one_layer"


def model_reduced_params(params, task) -> dict:
  """(omega, mu, eta, ...) of one seed's params, via theory.reduced_params."""
  w_kq, w_ov = one_layer.merged_weights(params)
  return theory.reduced_params(w_kq, w_ov, task.dim, task.context_len, task.noise_var)


@functools.partial(jax.jit, static_argnums=(0, 1, 5, 6, 7))
def _risks(task, attention, omega, mu, key, num_prompts, batch_size, length):
  eta = jnp.sum(omega * mu)
  d, s2 = task.dim, task.noise_var
  lam = d * s2 / max(task.prior_scale, 1e-12) ** 2

  def predictors(b):
    x, y, xq = b["x"], b["y"], b["xq"]
    out = {"ridge": theory.ridge_predict(x, y, xq, lam),
           "debiased_gd": theory.debiased_gd_predict(x, y, xq, eta)}
    if attention == "softmax":
      out["kernel"] = theory.kernel_predict(x, y, xq, omega, mu)
    else:
      n = task.context_len if attention == "linear:train_len" else length
      out["kernel"] = theory.linear_attention_predict(x, y, xq, omega, mu, n)
    return out

  sample = lambda k, n: task.sample(k, n, context_len=length)
  return theory.mc_risk(predictors, sample, key, num_prompts, batch_size)


def theory_risks(spec, task, params, key, num_prompts: int, batch_size: int,
                 length: int) -> tuple[dict, dict]:
  """(risks, stderrs) by predictor name at prompt length `length` for one seed
  (`spec`: the run's Spec, or its ConfigDict)."""
  red = model_reduced_params(params, task)
  active = ~red["dummy"]
  omega = jnp.where(active, red["omega"], 0.0)
  mu = jnp.where(active, red["mu"], 0.0)
  model = config_lib.resolve(spec, check_devices=False).model
  attention = model.attention
  if attention == "linear":
    attention = f"linear:{model.linear_norm}"
  mean, se = _risks(task, attention, omega, mu, key, num_prompts,
                    min(batch_size, num_prompts), length)
  risks = {k: float(v) for k, v in mean.items()}
  stderrs = {k: float(v) for k, v in se.items()}
  isotropic = task.covariance == "isotropic" and task.prior_mean == 0.0
  if isotropic:
    risks["gd_opt"] = float(theory.gd_opt_risk(task.dim, length, task.noise_var,
                                               task.prior_scale))
    stderrs["gd_opt"] = 0.0
  risks["reduced"] = float(theory.reduced_loss(omega, mu, task.dim, length,
                                               task.noise_var))
  stderrs["reduced"] = 0.0
  return risks, stderrs


def bridge_summary(params_all_seeds, task) -> dict:
  """Per-seed (omega, mu, eta, mu_sum, dummy) as JSON-ready lists."""
  red = jax.vmap(lambda p: model_reduced_params(p, task))(params_all_seeds)
  return {k: np.asarray(v).tolist() for k, v in red.items()}
