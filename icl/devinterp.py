"""python -m icl.devinterp --workdir=DIR: the LLC and essential dynamics over training.

Reads every stored checkpoint of a run (train.ckpt_schedule = 'log' keeps the early
ones), takes one seed's params at each, and writes into DIR

  llc.jsonl                one line per checkpoint: lambda_hat (mean, chain std, per
                           chain), l(w*), the step-size check and warnings, the SGLD
                           settings, the chains' loss and distance traces
  essential_dynamics.json  PCA of the outputs on a fixed probe set across the
                           checkpoints: explained-variance ratios, PC scores, the
                           score extrema and candidate stage boundaries

The science and the defaults: docs/devinterp.md. The estimator runs in the fresh-
prompt mode (a new batch from the task every SGLD step, as in Hoogland et al. 2024),
so n beta is a stated flag; the same chain and batch keys at every checkpoint
(common random numbers), all checkpoints in one jitted call.
"""

from __future__ import annotations

import json
import os

from absl import flags, logging

from icl import cli
from icl import workdir as workdir_lib

LLC_FILE = "llc.jsonl"
ED_FILE = "essential_dynamics.json"

FLAGS = flags.FLAGS


def define_flags() -> None:
  """Command-line flags, defined only when run as a program."""
  flags.DEFINE_string("workdir", None, "Work directory of a training run.")
  flags.DEFINE_integer("seed_index", 0, "Which seed (model) of the run to analyse.")
  flags.DEFINE_float("epsilon", 3e-4, "SGLD step size.")
  flags.DEFINE_float("nbeta", 60.0, "n beta, the inverse temperature times n.")
  flags.DEFINE_float("gamma", 6.0, "Localization strength.")
  flags.DEFINE_integer("chains", 4, "SGLD chains per checkpoint.")
  flags.DEFINE_integer("burnin", 100, "Burn-in steps per chain.")
  flags.DEFINE_integer("draws", 200, "Draw steps per chain.")
  flags.DEFINE_integer("batch_size", 128, "Fresh prompts per SGLD step.")
  flags.DEFINE_integer("num_reference", 8, "Batches for the reference loss l(w*).")
  flags.DEFINE_integer("sgld_seed", 42, "Seed of the chain and batch keys.")
  flags.DEFINE_integer("num_probe", 256, "Probe prompts for essential dynamics.")
  flags.DEFINE_integer("components", 3, "Principal components kept.")
  flags.DEFINE_float("smooth_end", 0.0, "Gaussian smoothing width (checkpoints) at the "
                     "last checkpoint, growing linearly from 0.")
  flags.DEFINE_bool("llc", True, "Estimate the LLC (else only essential dynamics).")


def load_checkpoints(workdir: str, seed_index: int = 0):
  """(spec, experiment bound to that seed's sweep value, steps [T], params with
  leaves [T, ...]) for every readable checkpoint of `workdir`, oldest first."""
  import jax
  import jax.numpy as jnp

  from icl import config_lib
  from icl.train import checkpoint as checkpoint_lib
  from icl.train import core

  config = workdir_lib.read_config(workdir)
  try:
    spec = config_lib.resolve(config, check_devices=False)
  except (AttributeError, KeyError) as e:
    raise workdir_lib.WorkdirError(
        f"{workdir}/{workdir_lib.CONFIG} lacks a field ({e}): not an icl run") from None
  ckpt = checkpoint_lib.Checkpointer(workdir, keep=spec.train.keep_ckpts, read_only=True)
  steps = ckpt.steps()
  if not steps:
    raise workdir_lib.WorkdirError(f"work dir {workdir!r} has no checkpoint yet")
  exp = core.Experiment.from_config(spec)
  template = jax.eval_shape(lambda k: core.init_states(exp, k), core.seed_keys(spec)[0])
  num_models = jax.tree.leaves(template["params"])[0].shape[0]
  if not 0 <= seed_index < num_models:
    raise ValueError(f"--seed_index={seed_index}: the run has {num_models} models")
  params, hparams = [], None
  for step in steps:
    _, states = ckpt.restore(template, step)
    params.append(jax.tree.map(lambda x: x[seed_index], states["params"]))
    if "hparams" in states:
      hparams = jax.tree.map(lambda x: x[seed_index], states["hparams"])
  ckpt.close()
  stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *params)
  return spec, exp.bind(hparams), steps, stacked


def llc_records(exp, steps, stacked, config, batch_size: int, num_reference: int,
                seed: int) -> list[dict]:
  """One llc.jsonl record per checkpoint (the whole curve is one jitted call)."""
  import jax
  import numpy as np

  from icl.probes import llc as llc_lib

  task = exp.task
  loss_fn = lambda params, batch: exp.loss(params, batch)[0]
  sample = lambda key: task.sample(key, batch_size)
  key = jax.random.key(seed)
  data = llc_lib.fresh_data(sample, jax.random.fold_in(key, 1), num_reference)
  out = jax.device_get(llc_lib.jit_estimate(loss_fn, data, config, over_time=True)(
      stacked, jax.random.fold_in(key, 0)))
  records = []
  for i, step in enumerate(steps):
    one = jax.tree.map(lambda x: x[i], out)
    records.append({
        "step": int(step), "llc": float(one["llc"]), "llc_std": float(one["llc_std"]),
        "llc_chains": [float(x) for x in one["llc_chains"]],
        "init_loss": float(one["init_loss"]), "curvature": float(one["curvature"]),
        "stability": float(one["stability"]),
        "nonfinite_chains": int(np.sum(one["nonfinite"])),
        "warnings": llc_lib.diagnose(one, config.num_burnin),
        "epsilon": config.epsilon, "nbeta": config.nbeta, "gamma": config.gamma,
        "num_chains": config.num_chains, "num_burnin": config.num_burnin,
        "num_draws": config.num_draws, "batch_size": batch_size,
        "loss_trace": np.round(one["loss_trace"], 6).tolist(),
        "dist_trace": np.round(one["dist_trace"], 6).tolist()})
  return records


def essential_dynamics(exp, steps, stacked, num_probe: int, components: int,
                       smooth_end: float = 0.0) -> dict:
  """essential_dynamics.json: outputs on `num_probe` prompts from key 0 (the same
  probe set for every run of a task)."""
  import jax

  from icl.probes import essential_dynamics as ed

  probe = exp.task.sample(jax.random.key(0), num_probe)
  features = jax.jit(lambda p: ed.outputs_over_time(exp.apply, p, probe))(stacked)
  result = ed.analyse(jax.device_get(features), steps, components, 0.0, smooth_end)
  result["num_probe"] = num_probe
  return result


def run(workdir: str, *, seed_index: int = 0, llc_config=None, batch_size: int = 128,
        num_reference: int = 8, sgld_seed: int = 42, num_probe: int = 256,
        components: int = 3, smooth_end: float = 0.0) -> list[str]:
  """Writes llc.jsonl (when `llc_config`) and essential_dynamics.json; their paths."""
  spec, exp, steps, stacked = load_checkpoints(workdir, seed_index)
  logging.info("%d checkpoints of %s: %s", len(steps), workdir, steps)
  paths = []
  if llc_config is not None:
    records = llc_records(exp, steps, stacked, llc_config, batch_size, num_reference,
                          sgld_seed)
    for r in records:
      for w in r["warnings"]:
        logging.warning("step %d: %s", r["step"], w)
    path = os.path.join(workdir, LLC_FILE)
    with open(path + ".tmp", "w") as f:
      for r in records:
        f.write(json.dumps(dict(r, seed_index=seed_index)) + "\n")
    os.replace(path + ".tmp", path)  # a reader never sees half a file
    paths.append(path)
  result = essential_dynamics(exp, steps, stacked, num_probe, components, smooth_end)
  result["seed_index"] = seed_index
  path = os.path.join(workdir, ED_FILE)
  with open(path + ".tmp", "w") as f:
    json.dump(result, f)
  os.replace(path + ".tmp", path)
  paths.append(path)
  return paths


def read_llc(workdir: str) -> list[dict]:
  """llc.jsonl's records, oldest step first ([] when absent)."""
  path = os.path.join(workdir, LLC_FILE)
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return sorted((json.loads(line) for line in f if line.strip()), key=lambda r: r["step"])


def read_essential_dynamics(workdir: str) -> dict | None:
  path = os.path.join(workdir, ED_FILE)
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def main(argv):
  del argv
  cli.setup_logging(logging.WARNING)
  if not FLAGS.workdir:
    cli.fail("--workdir is required")
  from icl.probes import llc as llc_lib  # after flag parsing: jax imports are slow
  try:
    config = llc_lib.LLCConfig(epsilon=FLAGS.epsilon, nbeta=FLAGS.nbeta,
                               gamma=FLAGS.gamma, num_chains=FLAGS.chains,
                               num_burnin=FLAGS.burnin, num_draws=FLAGS.draws)
    paths = run(FLAGS.workdir, seed_index=FLAGS.seed_index,
                llc_config=config if FLAGS.llc else None, batch_size=FLAGS.batch_size,
                num_reference=FLAGS.num_reference, sgld_seed=FLAGS.sgld_seed,
                num_probe=FLAGS.num_probe, components=FLAGS.components,
                smooth_end=FLAGS.smooth_end)
  except (workdir_lib.WorkdirError, OSError, ValueError) as e:
    cli.fail(str(e))
  for path in paths:
    print(path)


if __name__ == "__main__":
  define_flags()
  cli.run(main)
