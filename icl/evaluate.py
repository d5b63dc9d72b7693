"""python -m icl.evaluate --workdir=DIR: the latest checkpoint on fresh prompts.

Evaluates every seed of the run at several context lengths (default: the config's
``eval.context_lens``, else 10,20,40,60,80,100) on ``eval.num_prompts`` fresh
prompts each and writes ``<workdir>/eval.json``:

  {"step": 20000, "num_prompts": 20000, "num_seeds": 1,
   "context_len": {"10": mse, ...}, "context_len_se": {...},
   "context_len_seeds": {"10": [mse of seed 0, ...], ...}}

With S seeds, "context_len" is the mean over seeds and "context_len_se" the standard
error over seeds (S = 1: the Monte-Carlo error over prompts). With config.sweep,
the top-level numbers pool all sweep points and "points" holds, per point label
(e.g. "lr=0.001"), the same three dicts over that point's seeds (docs/sweeps.md).
"""

from __future__ import annotations

import inspect
import json
import os

import jax
import numpy as np
from absl import flags, logging

from icl import cli, compare, config_lib
from icl import workdir as workdir_lib

DEFAULT_LENGTHS = "10,20,40,60,80,100"

FLAGS = flags.FLAGS


def define_flags() -> None:
  """Command-line flags, defined only when run as a program (so that importing this
  module next to other icl tools defines no global flags)."""
  flags.DEFINE_string("workdir", None, "Work directory of a training run.")
  flags.DEFINE_string("context_lens", None, "Comma-separated context lengths.")
  flags.DEFINE_integer("num_prompts", None, "Fresh prompts per length (default: config).")


def load_run(workdir: str, step: int | None = None):
  """(config, Experiment, states, step) of the checkpoint at `step` (default latest)."""
  from icl.train import checkpoint as checkpoint_lib
  from icl.train import core
  config = workdir_lib.read_config(workdir)
  try:
    config_lib.validate(config, check_devices=False)  # trained maybe elsewhere
  except (AttributeError, KeyError) as e:  # a foreign or truncated config.json
    raise workdir_lib.WorkdirError(
        f"{workdir}/{workdir_lib.CONFIG} lacks a field ({e}): not an icl run") from None
  ckpt = checkpoint_lib.Checkpointer(workdir, keep=config.train.keep_ckpts)
  if ckpt.latest_step() is None:
    raise workdir_lib.WorkdirError(f"work dir {workdir!r} has no checkpoint yet")
  exp = core.Experiment.from_config(config)
  template = jax.eval_shape(lambda k: core.init_states(exp, k), core.seed_keys(config)[0])
  step, states = ckpt.restore(template, step)
  ckpt.close()
  return config, exp, states, step


def _summarize(result: dict, length: int, per_seed: np.ndarray, mc_se: float) -> None:
  summary = workdir_lib.summarize_seeds("mse", per_seed)
  result["context_len"][str(length)] = summary["mse"]
  # Standard error: over seeds when S > 1, else the Monte-Carlo error of the mean.
  result["context_len_se"][str(length)] = summary.get("mse/se", mc_se)
  result["context_len_seeds"][str(length)] = per_seed.tolist()


def evaluate_workdir(workdir: str, context_lens: list[int] | None = None,
                     num_prompts: int | None = None) -> dict:
  from icl.train import core, hparams, sharding, trainer
  config, exp, states, step = load_run(workdir)
  if "context_len" not in inspect.signature(exp.task.sample).parameters:
    context_lens = []  # a token task: evaluated at its own sequence length only
  elif context_lens is None:
    context_lens = config_lib.parse_lengths(config.eval.context_lens or DEFAULT_LENGTHS)
  num_prompts = num_prompts or config.eval.num_prompts
  result = {"step": step, "num_prompts": num_prompts,
            "num_seeds": config.train.num_seeds, "context_len": {},
            "context_len_se": {}, "context_len_seeds": {}}
  labels = hparams.labels(config)
  if labels:
    result["sweep"] = {"field": hparams.field(config), "values": hparams.values(config)}
    result["points"] = {label: {"context_len": {}, "context_len_se": {},
                                "context_len_seeds": {}} for label in labels}
  key = trainer.eval_key(config)
  at_train_len = core.evaluate(exp, states["params"], key, num_prompts,
                               config.eval.batch_size, None, states["step"][0],
                               states.get("hparams"))
  result["metrics"] = {}
  for name, values in at_train_len.items():
    result["metrics"].update(workdir_lib.summarize_seeds(name, sharding.to_host(values)))
  # Theory uses the config's task: not for in-program sweeps over its fields.
  with_theory = compare.supports(config) and not labels
  if with_theory:
    result["theory"], result["theory_se"] = {}, {}
    result["reduced"] = compare.bridge_summary(states["params"], exp.task)
  for length in context_lens:
    out = core.evaluate(exp, states["params"], key, num_prompts,
                        config.eval.batch_size, int(length), states["step"][0],
                        states.get("hparams"))
    per_model = sharding.to_host(out["loss"])  # [M] = [points x seeds]
    mc_se = sharding.to_host(out["loss_stderr"])
    _summarize(result, length, per_model, float(mc_se[0]))
    per_point = per_model.reshape(len(labels) or 1, config.train.num_seeds)
    mc_point = mc_se.reshape(per_point.shape)
    for label, seeds, mc in zip(labels, per_point, mc_point):
      _summarize(result["points"][label], length, seeds, float(mc[0]))
    if with_theory:  # the same prompts for the theory predictors, seed by seed
      per_seed_risks = [compare.theory_risks(
          config, exp.task, jax.tree.map(lambda a, i=i: a[i], states["params"]), key,
          num_prompts, config.eval.batch_size, int(length))
                        for i in range(config.train.num_seeds)]
      for name in per_seed_risks[0][0]:
        values = [r[name] for r, _ in per_seed_risks]
        result["theory"].setdefault(name, {})[str(length)] = float(np.mean(values))
        result["theory_se"].setdefault(name, {})[str(length)] = (
            float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1
            else per_seed_risks[0][1][name])
  with open(os.path.join(workdir, workdir_lib.EVAL), "w") as f:
    json.dump(workdir_lib.jsonable(result), f, indent=2)
  return result


def format_table(result: dict) -> str:
  """Model MSE (and the theory predictors' risks on the same prompts) per length."""
  names = [n for n in compare.THEORY_NAMES if n in result.get("theory", {})]
  lines = [f"step {result['step']}, {result['num_prompts']} prompts per length, "
           f"{result['num_seeds']} seed(s)"]
  if "reduced" in result:
    red = result["reduced"]
    lines.append("reduced model (seed 0): omega " + ", ".join(
        f"{w:+.3f}" for w in red["omega"][0]) + "; mu " + ", ".join(
        f"{m:+.3f}" for m in red["mu"][0]) + f"; eta {red['eta'][0]:.3f}; "
        f"sum mu {red['mu_sum'][0]:+.3f}; dummy heads "
        f"{[h for h, dm in enumerate(red['dummy'][0]) if dm]}")
  lines.append(f"{'L':>5}  {'model':>8} {'(se)':>7}" +
               "".join(f"  {n:>11}" for n in names))
  if not result["context_len"]:
    lines += [f"  {name:>24}  {value:.4f}" for name, value in result["metrics"].items()
              if isinstance(value, float)]
  for length, mse in result["context_len"].items():
    row = f"{length:>5}  {mse:8.4f} {result['context_len_se'][length]:7.4f}"
    row += "".join(f"  {result['theory'][n][length]:11.4f}" for n in names)
    lines.append(row)
  return "\n".join(lines)


def main(argv):
  del argv
  cli.setup_logging(logging.WARNING)
  if not FLAGS.workdir:
    cli.fail("--workdir is required")
  from icl.sweep import report  # a sweep dir: every finished point, then a table
  try:
    lengths = (config_lib.parse_lengths(FLAGS.context_lens)
               if FLAGS.context_lens else None)
    if report.is_sweep_dir(FLAGS.workdir):
      summary = report.evaluate_sweep(
          FLAGS.workdir, lengths, FLAGS.num_prompts,
          on_point=lambda name, result: print(f"== {name}\n{format_table(result)}\n",
                                              flush=True))
      print(report.format_sweep_table(summary["rows"]))
      print(f"sweep table: {summary['path']}")
      return
    result = evaluate_workdir(FLAGS.workdir, lengths, FLAGS.num_prompts)
  except (workdir_lib.WorkdirError, config_lib.ConfigError, ValueError) as e:
    cli.fail(str(e))
  except OSError as e:  # e.g. a read-only work dir for eval.json
    cli.fail(f"{e.filename or FLAGS.workdir}: {e.strerror or e}")
  print(format_table(result))


if __name__ == "__main__":
  define_flags()
  cli.run(main)
