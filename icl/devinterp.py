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
  flags.DEFINE_list("llc_steps", None, "Checkpoint steps at which to estimate the LLC "
                    "(default: all; essential dynamics reads every checkpoint).")
  flags.DEFINE_bool("init", False, "Add step 0: the initial params, rebuilt from the "
                    "run's seed.")
  flags.DEFINE_enum("batching", "vmap", ["vmap", "map"], "How chains and checkpoints "
                    "share the compiled program: vmapped, or one after another (map: "
                    "faster for a transformer on a CPU).")


def load_checkpoints(workdir: str, seed_index: int | None = 0, include_init: bool = False):
  """(spec, experiment bound to that seed's sweep value, steps [T], params with
  leaves [T, ...]) for every readable checkpoint of `workdir`, oldest first.

  seed_index None: every seed, leaves [S, T, ...] (the seeds must share their sweep
  value). include_init: prepend step 0, the initial params, which are rebuilt from
  the run's seed exactly as the trainer drew them (no checkpoint holds them)."""
  import jax
  import jax.numpy as jnp
  import numpy as np

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
  init_keys = core.seed_keys(spec)[0]
  template = jax.eval_shape(lambda k: core.init_states(exp, k), init_keys)
  num_models = jax.tree.leaves(template["params"])[0].shape[0]
  if seed_index is not None and not 0 <= seed_index < num_models:
    raise ValueError(f"--seed_index={seed_index}: the run has {num_models} models")
  pick = (lambda x: x) if seed_index is None else (lambda x: x[seed_index])
  params, hparams = [], None
  ckpt_steps = list(steps)
  if include_init and ckpt_steps[0] != 0:
    params.append(jax.tree.map(pick, core.init_states(exp, init_keys)["params"]))
    steps = [0] + ckpt_steps
  for step in ckpt_steps:
    _, states = ckpt.restore(template, step)
    params.append(jax.tree.map(pick, states["params"]))
    if "hparams" in states:
      hparams = jax.tree.map(pick, states["hparams"])
  ckpt.close()
  stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *params)
  if seed_index is None:
    stacked = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), stacked)  # [S, T, ...]
    if hparams is not None:
      first = jax.tree.map(lambda x: x[0], hparams)
      if not all(np.allclose(np.asarray(x), np.asarray(x)[0]) for x in jax.tree.leaves(hparams)):
        raise ValueError("seed_index=None needs seeds of one sweep value")
      hparams = first
  return spec, exp.bind(hparams), list(steps), stacked


def llc_estimates(exp, stacked, config, batch_size: int = 128, num_reference: int = 8,
                  seed: int = 42, lead_dims: int = 1) -> dict:
  """`icl.probes.llc.estimate_over_time` (numpy) at every checkpoint of `stacked`,
  whose leaves have `lead_dims` leading axes ([T, ...], or [S, T, ...] with 2): one
  jitted call, the same chain and batch keys at every checkpoint and seed; each
  output keeps the leading axes. Fresh prompts from the run's task."""
  import jax
  import numpy as np

  from icl.probes import llc as llc_lib

  task = exp.task
  loss_fn = lambda params, batch: exp.loss(params, batch)[0]
  sample = lambda key: task.sample(key, batch_size)
  key = jax.random.key(seed)
  data = llc_lib.fresh_data(sample, jax.random.fold_in(key, 1), num_reference)
  lead = jax.tree.leaves(stacked)[0].shape[:lead_dims]
  flat = jax.tree.map(lambda x: x.reshape((-1,) + x.shape[lead_dims:]), stacked)
  out = jax.device_get(llc_lib.jit_estimate(loss_fn, data, config, over_time=True)(
      flat, jax.random.fold_in(key, 0)))
  return jax.tree.map(lambda x: np.reshape(x, lead + np.shape(x)[1:]), out)


def llc_records(exp, steps, stacked, config, batch_size: int, num_reference: int,
                seed: int) -> list[dict]:
  """One llc.jsonl record per checkpoint (the whole curve is one jitted call)."""
  import jax
  import numpy as np

  from icl.probes import llc as llc_lib

  out = llc_estimates(exp, stacked, config, batch_size, num_reference, seed)
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
        components: int = 3, smooth_end: float = 0.0, llc_steps=None,
        include_init: bool = False) -> list[str]:
  """Writes llc.jsonl (when `llc_config`) and essential_dynamics.json; their paths.

  llc_steps: the checkpoint steps at which to estimate the LLC (None: all; essential
  dynamics always reads every checkpoint); include_init: add step 0, the initial
  params."""
  import jax
  import numpy as np

  spec, exp, steps, stacked = load_checkpoints(workdir, seed_index, include_init)
  logging.info("%d checkpoints of %s: %s", len(steps), workdir, steps)
  paths = []
  if llc_config is not None:
    keep = [i for i, s in enumerate(steps) if llc_steps is None or s in set(llc_steps)]
    missing = sorted(set(llc_steps or ()) - set(steps))
    if missing:
      raise ValueError(f"--llc_steps {missing} are not checkpoints of {workdir} "
                       f"(stored: {steps})")
    idx = np.asarray(keep)
    records = llc_records(exp, [steps[i] for i in keep],
                          jax.tree.map(lambda x: x[idx], stacked), llc_config,
                          batch_size, num_reference, sgld_seed)
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


def steepest_rise(steps, llc) -> tuple[int, int]:
  """The pair of neighbouring checkpoints (t_i, t_i+1) between which lambda_hat rises
  fastest per log step, d lambda_hat / d log t (Hoogland et al. read stages on a log
  axis); steps must be > 0 and increasing."""
  import numpy as np
  t = np.asarray(steps, dtype=float)
  y = np.asarray(llc, dtype=float)
  if len(t) < 2 or np.any(t <= 0) or np.any(np.diff(t) <= 0):
    raise ValueError("steepest_rise needs >= 2 increasing positive steps")
  i = int(np.argmax(np.diff(y) / np.diff(np.log(t))))
  return int(t[i]), int(t[i + 1])


def reduced_stages(records, task, seed: int | None = None, frac: float = 0.05) -> dict:
  """The reduced theory's three stages on a one-layer run's own trajectory.

  The pattern probes' (omega_h, mu_h) at each probed step (metrics.jsonl `records`;
  `seed`: which seed's values, None for a one-seed run) put into the reduced loss
  L~(omega, mu) of `theory.reduced` (`task`: the run's task spec, for d, L and
  sigma^2), and `theory.stage_boundaries` on that trajectory (the loss falls by
  `frac` of its total drop: the fast drop starts; it is within `frac` of its
  minimum: it ends). Returns the steps {"drop_start", "drop_end", "omega_peak"} and
  the trajectory {"steps", "loss", "omega", "mu"}."""
  import jax
  import jax.numpy as jnp
  import numpy as np

  import theory

  def values(key):
    rows = [r for r in records if key in r]
    if seed is None:
      return [r["step"] for r in rows], [r[key] for r in rows]
    return [r["step"] for r in rows], [r[f"{key}/seeds"][seed] for r in rows]

  heads = sorted({int(k.split("/h")[-1]) for r in records for k in r
                  if k.startswith("probe/omega/h") and k[len("probe/omega/h"):].isdigit()})
  if not heads:
    raise ValueError("no pattern probes (probe/omega/h*) in the run's metrics: train "
                     "with probes.every > 0")
  steps, _ = values(f"probe/omega/h{heads[0]}")
  omega = np.array([values(f"probe/omega/h{h}")[1] for h in heads]).T  # [T, H]
  mu = np.array([values(f"probe/mu/h{h}")[1] for h in heads]).T
  reduced = lambda o, m: theory.reduced_loss(o, m, task.dim, task.context_len,
                                             task.noise_var)
  loss = np.asarray(jax.vmap(reduced)(jnp.asarray(omega), jnp.asarray(mu)))
  stages = theory.stage_boundaries({"loss": loss, "omega": omega}, frac)
  out = {name: int(steps[i]) for name, i in stages.items()}
  out["trajectory"] = {"steps": [int(s) for s in steps], "loss": loss.tolist(),
                       "omega": omega.tolist(), "mu": mu.tolist()}
  return out


def stage_comparison(workdir: str, llc_config, *, batch_size: int = 128,
                     num_reference: int = 8, sgld_seed: int = 42,
                     frac: float = 0.05) -> list[dict]:
  """lambda_hat(t) of every seed of a one-layer regression run against the reduced
  theory's stages of that seed's own (omega, mu) trajectory (`reduced_stages`).

  All seeds' checkpoints in one jitted LLC call (the same chain and batch keys
  everywhere). Per seed: steps, llc, llc_std, the steepest rise (t_lo, t_hi), the
  stages, and `position`: where the rise's geometric midpoint sqrt(t_lo t_hi) lies
  in the fast-drop stage on a log axis, (log t - log drop_start) / (log drop_end -
  log drop_start): inside the stage iff 0 < position < 1; `rise`, lambda_hat(t_hi) -
  lambda_hat(t_lo); and `in_stage`: the fraction of the whole change lambda_hat(last)
  - lambda_hat(first) made between drop_start and drop_end (lambda_hat interpolated
  in log t)."""
  import math

  import numpy as np

  spec, exp, steps, stacked = load_checkpoints(workdir, None)
  out = llc_estimates(exp, stacked, llc_config, batch_size, num_reference, sgld_seed,
                      lead_dims=2)
  records = workdir_lib.read_metrics(workdir)
  num_seeds = out["llc"].shape[0]
  rows = []
  for s in range(num_seeds):
    lo, hi = steepest_rise(steps, out["llc"][s])
    stages = reduced_stages(records, spec.task, None if num_seeds == 1 else s, frac)
    start, end = stages["drop_start"], stages["drop_end"]
    mid = math.sqrt(lo * hi)
    position = (math.log(mid) - math.log(max(start, 1))) / (
        math.log(max(end, 1)) - math.log(max(start, 1)) or float("nan"))
    log_t, llc = np.log(np.maximum(steps, 1)), out["llc"][s]
    at = lambda t: float(np.interp(math.log(max(t, 1)), log_t, llc))
    in_stage = (at(end) - at(start)) / (float(llc[-1] - llc[0]) or float("nan"))
    rows.append({"seed": s, "steps": list(steps), "llc": out["llc"][s].tolist(),
                 "llc_std": out["llc_std"][s].tolist(),
                 "max_stability": float(out["stability"][s].max()),
                 "nonfinite_chains": int(out["nonfinite"][s].sum()),
                 "steepest_rise": (lo, hi), "rise": float(llc[steps.index(hi)] -
                                                          llc[steps.index(lo)]),
                 "in_stage": in_stage, "drop_start": start, "drop_end": end,
                 "omega_peak": stages["omega_peak"], "position": position,
                 "trajectory": stages["trajectory"]})
  return rows


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
                               num_burnin=FLAGS.burnin, num_draws=FLAGS.draws,
                               chain_batching=FLAGS.batching,
                               checkpoint_batching=FLAGS.batching)
    llc_steps = None if FLAGS.llc_steps is None else [int(x) for x in FLAGS.llc_steps]
    paths = run(FLAGS.workdir, seed_index=FLAGS.seed_index,
                llc_config=config if FLAGS.llc else None, batch_size=FLAGS.batch_size,
                num_reference=FLAGS.num_reference, sgld_seed=FLAGS.sgld_seed,
                num_probe=FLAGS.num_probe, components=FLAGS.components,
                smooth_end=FLAGS.smooth_end, llc_steps=llc_steps, include_init=FLAGS.init)
  except (workdir_lib.WorkdirError, OSError, ValueError) as e:
    cli.fail(str(e))
  for path in paths:
    print(path)


if __name__ == "__main__":
  define_flags()
  cli.run(main)
