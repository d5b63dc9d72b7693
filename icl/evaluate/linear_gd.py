"""python -m icl.evaluate.linear_gd --workdir=DIR [--context_lens=5,20] [--covariate_scales=2]

A trained `lsa` run against gradient descent (docs/linear_gd.md, "Targets"): the
Monte-Carlo risk (MSE, no 1/2) of seed 0 at the training length, at other lengths
and under covariate shift (Sigma_test = c Sigma; the flags default to the run's
config.eval.context_lens and config.eval.covariate_scales), beside the closed forms of
theory/linear_gd.py; the probes of icl/probes/gd_alignment.py; the effective
preconditioner's diagonal and the largest entries of the blocks that GD leaves 0.
Prints one JSON object.
"""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

FLAGS = flags.FLAGS


def define_flags() -> None:
  flags.DEFINE_string("workdir", None, "Work directory of an lsa training run.")
  flags.DEFINE_string("context_lens", "", "Comma-separated test lengths (default: the "
                      "run's eval.context_lens).")
  flags.DEFINE_string("covariate_scales", "", "Comma-separated c of Sigma_test = c Sigma "
                      "(default: the run's eval.covariate_scales).")
  flags.DEFINE_integer("num_prompts", 200_000, "Fresh prompts per risk.")
  flags.DEFINE_integer("seed", 0, "Index of the trained seed to read.")


def analyse(workdir: str, lengths=(), scales=(), num_prompts: int = 200_000,
            seed: int = 0) -> dict:
  """The numbers of the module docstring, as a dict of floats and lists."""
  import theory
  from icl.evaluate.loading import load_run
  from icl.models import lsa
  from icl.probes import gd_alignment, recording

  spec, exp, states, step = load_run(workdir)
  lengths = tuple(lengths) or tuple(spec.eval.context_lens)
  scales = tuple(scales) or tuple(spec.eval.covariate_scales)
  params = jax.tree.map(lambda a: a[seed], states["params"])
  task = exp.task
  key = jax.random.key(12345, impl="rbg")
  d, n = task.dim, task.context_len
  tau2 = task.prior_scale ** 2 / d
  cov = jnp.asarray(task.covariance_matrix(), jnp.float32)
  mu = jnp.full(d, task.prior_mean, jnp.float32)
  gstar = theory.lgd_optimal_preconditioner(cov, n, tau2, task.noise_var)

  def risk(length=None, scale=None):
    sample = lambda k, bs: task.sample(k, bs, context_len=length, covariate_scale=scale)
    mean, se = theory.mc_risk(lambda b: exp.apply(params, b), sample, key, num_prompts,
                              10_000)
    return [float(mean), float(se)]

  out = {"workdir": workdir, "step": int(step), "risk": risk(),
         "gd_from_mu_risk": float(theory.gd_init_risk(gstar, cov, n, tau2, 0 * mu,
                                                     task.noise_var)),
         "gd_from_0_risk": float(theory.gd_init_risk(
             theory.lgd_optimal_preconditioner(cov, n, tau2, task.noise_var)
             if task.prior_mean == 0 else
             theory.gd_init_opt_step(d, n, tau2, float(mu @ mu), task.noise_var),
             cov, n, tau2, mu, task.noise_var))}
  probes = jax.device_get(recording.compute(exp.probe_context(), params))
  keys = ("gamma_scale", "gamma_offdiag", "gamma_rel_err", "theta_proj", "theta_err",
          "guess_scalar", "sens_cos", "pred_diff")
  out["probes"] = {k: float(probes[k]) for k in keys if k in probes}
  (w_kq, w_ov), *_ = lsa.layer_weights(params, spec.model).values()
  scale = n if spec.model.norm == "none" else 1.0
  gamma = gd_alignment.effective_preconditioner(w_kq, w_ov, d, scale)
  out["gamma_diag"] = np.round(np.diag(np.asarray(gamma)), 4).tolist()
  out["gamma_star_diag"] = np.round(np.diag(np.asarray(gstar)), 4).tolist()
  out["other_blocks_max"] = {"kq_y_row": float(jnp.abs(w_kq[:, d, :]).max()),
                             "kq_y_col": float(jnp.abs(w_kq[:, :d, d]).max()),
                             "ov_x": float(jnp.abs(w_ov[:, :d]).max())}
  for length in lengths:
    out[f"risk_M{length}"] = risk(length=length)
    out[f"zfb_M{length}"] = float(theory.zfb_risk(gamma, cov, length))
  for c in scales:
    out[f"risk_shift{c}"] = risk(scale=c)
    out[f"zfb_shift{c}"] = float(theory.zfb_risk(gamma, c * cov, n))
  return out


def main(argv):
  del argv
  parse = lambda s, f: tuple(f(v) for v in s.split(",") if v.strip())
  print(json.dumps(analyse(FLAGS.workdir, parse(FLAGS.context_lens, int),
                           parse(FLAGS.covariate_scales, float), FLAGS.num_prompts,
                           FLAGS.seed)))


if __name__ == "__main__":
  define_flags()
  app.run(main)
