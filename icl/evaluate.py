"""python -m icl.evaluate --workdir=DIR: the latest checkpoint on fresh prompts.

Evaluates every seed of the run at several context lengths (default: the config's
``eval.context_lens``, else 10,20,40,60,80,100) on ``eval.num_prompts`` fresh
prompts each and writes ``<workdir>/eval.json``:

  {"step": 20000, "num_prompts": 20000, "num_seeds": 1,
   "context_len": {"10": mse, ...}, "context_len_se": {...}, ...}
"""

from __future__ import annotations

import json
import os

import jax
import numpy as np
from absl import app, flags, logging

from icl import cli, config_lib
from icl import workdir as workdir_lib

DEFAULT_LENGTHS = "10,20,40,60,80,100"

FLAGS = flags.FLAGS
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


def evaluate_workdir(workdir: str, context_lens: list[int] | None = None,
                     num_prompts: int | None = None) -> dict:
  from icl.train import core, trainer
  config, exp, states, step = load_run(workdir)
  if context_lens is None:
    context_lens = config_lib.parse_lengths(config.eval.context_lens or DEFAULT_LENGTHS)
  num_prompts = num_prompts or config.eval.num_prompts
  result = {"step": step, "num_prompts": num_prompts,
            "num_seeds": config.train.num_seeds, "context_len": {},
            "context_len_se": {}, "context_len_seeds": {}}
  key = trainer.eval_key(config)
  for length in context_lens:
    out = core.evaluate(exp, states["params"], key, num_prompts,
                        config.eval.batch_size, int(length))
    per_seed = np.asarray(out["loss"])
    summary = workdir_lib.summarize_seeds("mse", per_seed)
    result["context_len"][str(length)] = summary["mse"]
    # Standard error: over seeds when S > 1, else the Monte-Carlo error of the mean.
    result["context_len_se"][str(length)] = summary.get(
        "mse/se", float(np.asarray(out["loss_stderr"])[0]))
    result["context_len_seeds"][str(length)] = per_seed.tolist()
  with open(os.path.join(workdir, workdir_lib.EVAL), "w") as f:
    json.dump(result, f, indent=2)
  return result


def format_table(result: dict) -> str:
  lines = [f"step {result['step']}, {result['num_prompts']} prompts per length",
           f"{'L':>6}  {'mse':>8}  {'se':>7}"]
  for length, mse in result["context_len"].items():
    lines.append(f"{length:>6}  {mse:8.4f}  {result['context_len_se'][length]:7.4f}")
  return "\n".join(lines)


def main(argv):
  del argv
  cli.setup_logging(logging.WARNING)
  if not FLAGS.workdir:
    cli.fail("--workdir is required")
  try:
    lengths = (config_lib.parse_lengths(FLAGS.context_lens)
               if FLAGS.context_lens else None)
    result = evaluate_workdir(FLAGS.workdir, lengths, FLAGS.num_prompts)
  except (workdir_lib.WorkdirError, config_lib.ConfigError, ValueError) as e:
    cli.fail(str(e))
  except OSError as e:  # e.g. a read-only work dir for eval.json
    cli.fail(f"{e.filename or FLAGS.workdir}: {e.strerror or e}")
  print(format_table(result))


if __name__ == "__main__":
  cli.run(main)
