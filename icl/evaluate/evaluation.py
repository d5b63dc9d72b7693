"""Evaluation of a run's latest checkpoint at several prompt lengths, next to theory.

`evaluate_workdir` writes ``<workdir>/eval.json`` (its layout: `icl.evaluate`).
"""

from __future__ import annotations

import json
import os

import jax
import numpy as np

from icl import records
from icl import workdir as workdir_lib
from icl.evaluate import curves as curves_lib
from icl.evaluate import theory
from icl.evaluate.loading import load_run
from icl.train import core, sharding, trainer

DEFAULT_LENGTHS = (10, 20, 40, 60, 80, 100)


def _summarize(result: dict, length: int, per_seed: np.ndarray, mc_se: float) -> None:
  summary = records.summarize_seeds("mse", per_seed)
  result["context_len"][str(length)] = summary["mse"]
  # Standard error: over seeds when S > 1, else the Monte-Carlo error of the mean.
  result["context_len_se"][str(length)] = summary.get("mse/se", mc_se)
  result["context_len_seeds"][str(length)] = per_seed.tolist()


def evaluate_workdir(workdir: str, context_lens: list[int] | None = None,
                     num_prompts: int | None = None) -> dict:
  """Evaluates the run in `workdir` and writes its eval.json; returns the result."""
  spec, exp, states, step = load_run(workdir)
  if not exp.task.varies_context_len:
    context_lens = []  # a token task: evaluated at its own sequence length only
  elif context_lens is None:
    # a function-class prompt scores every shorter prefix at its own length
    default = ((exp.task.context_len,) if curves_lib.supports(exp) else DEFAULT_LENGTHS)
    context_lens = list(spec.eval.context_lens or default)
  num_prompts = num_prompts or spec.eval.num_prompts
  num_seeds = spec.train.num_seeds
  result = {"step": step, "num_prompts": num_prompts, "num_seeds": num_seeds,
            "context_len": {}, "context_len_se": {}, "context_len_seeds": {}}
  labels = spec.sweep.labels
  if labels:
    result["sweep"] = {"field": spec.sweep.field, "values": list(spec.sweep.values)}
    result["points"] = {label: {"context_len": {}, "context_len_se": {},
                                "context_len_seeds": {}} for label in labels}
  key = trainer.eval_key(spec)
  at_train_len = core.evaluate(exp, states["params"], key, num_prompts,
                               spec.eval.batch_size, None, states["step"][0],
                               states.get("hparams"))
  result["metrics"] = {}
  for name, values in at_train_len.items():
    result["metrics"].update(records.summarize_seeds(name, sharding.to_host(values)))
  # Theory uses the config's task: not for in-program sweeps over its fields.
  with_theory = theory.supports(spec) and not labels
  if with_theory:
    result["theory"], result["theory_se"] = {}, {}
    result["reduced"] = theory.bridge_summary(states["params"], exp.task)
  for length in context_lens:
    out = core.evaluate(exp, states["params"], key, num_prompts,
                        spec.eval.batch_size, int(length), states["step"][0],
                        states.get("hparams"))
    per_model = sharding.to_host(out["loss"])  # [M] = [points x seeds]
    mc_se = sharding.to_host(out["loss_stderr"])
    _summarize(result, length, per_model, float(mc_se[0]))
    per_point = per_model.reshape(len(labels) or 1, num_seeds)
    mc_point = mc_se.reshape(per_point.shape)
    for label, seeds, mc in zip(labels, per_point, mc_point):
      _summarize(result["points"][label], length, seeds, float(mc[0]))
    if with_theory:  # the same prompts for the theory predictors, seed by seed
      per_seed_risks = [theory.theory_risks(
          spec, exp.task, jax.tree.map(lambda a, i=i: a[i], states["params"]), key,
          num_prompts, spec.eval.batch_size, int(length)) for i in range(num_seeds)]
      for name in per_seed_risks[0][0]:
        values = [r[name] for r, _ in per_seed_risks]
        result["theory"].setdefault(name, {})[str(length)] = float(np.mean(values))
        result["theory_se"].setdefault(name, {})[str(length)] = (
            float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1
            else per_seed_risks[0][1][name])
  if curves_lib.supports(exp) and not labels:  # per-position curves and baselines
    result["curves"] = curves_lib.evaluate_curves(
        exp, states["params"], key, num_prompts, spec.eval.batch_size,
        spec.source["task"]["name"])
  with open(os.path.join(workdir, workdir_lib.EVAL), "w") as f:
    json.dump(records.jsonable(result), f, indent=2)
  return result
