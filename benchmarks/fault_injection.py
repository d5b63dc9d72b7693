"""Fault injection: kill -9 a short training run at random moments, resume it, and
check that the result equals the uninterrupted run.

  python -m benchmarks.fault_injection --cycles 20

One uninterrupted reference run, then per cycle: start the same run in a fresh work
dir, SIGKILL it at a random moment (see `kill_at_random`), rerun the same command
to the end, and compare every leaf of the final checkpointed state (params, optimizer
state, step) and every metrics.jsonl line (all fields but wall_time) with the
reference. Prints one line per cycle and a summary; exit status 1 if any differs.
The runs share a persistent compilation cache (the reference run fills it; the
cycles' executables come from it, so equality also covers cached programs);
--no_cache compiles in every run.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A short run: 12 chunks, a checkpoint every 3, two evaluations.
NUM_STEPS, LOG_EVERY = 120, 10
OVERRIDES = (f"--config.train.num_steps={NUM_STEPS}",
             f"--config.train.log_every={LOG_EVERY}",
             "--config.train.ckpt_every=30", "--config.train.eval_every=60",
             "--config.train.keep_ckpts=2", "--config.train.batch_size=64",
             "--config.eval.num_prompts=512", "--config.eval.batch_size=256")


def train_command(workdir: str) -> list[str]:
  return [sys.executable, "-m", "icl.train", "--config=configs/regression.py:tiny",
          f"--workdir={workdir}", *OVERRIDES]


CACHE = {"dir": None}  # a persistent compilation cache shared by the runs


def environment() -> dict:
  env = dict(os.environ)
  env.setdefault("JAX_PLATFORMS", "cpu")
  if CACHE["dir"]:  # start-up without recompiling: most of a short run's time
    env.setdefault("JAX_COMPILATION_CACHE_DIR", CACHE["dir"])
    env.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    env.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
  env["PYTHONPATH"] = os.pathsep.join(filter(None, [REPO, env.get("PYTHONPATH")]))
  return env


def run_to_end(workdir: str) -> str:
  """Runs (or resumes) the training to the end; returns its stderr."""
  proc = subprocess.run(train_command(workdir), cwd=REPO, env=environment(),
                        capture_output=True, text=True, timeout=900)
  if proc.returncode != 0:
    raise RuntimeError(f"training in {workdir} failed ({proc.returncode}): "
                       f"{proc.stderr[-2000:]}")
  return proc.stderr


def last_step(workdir: str) -> int:
  from icl import workdir as workdir_lib
  records = workdir_lib.read_metrics(workdir, missing_ok=True)
  return records[-1]["step"] if records else 0


def latest_checkpoint(workdir: str) -> int:
  """The newest complete checkpoint step on disk (orbax renames a step's
  temporary directory to the bare step number when it is complete)."""
  directory = os.path.join(workdir, "checkpoints")
  steps = [int(d) for d in os.listdir(directory) if d.isdigit()] if os.path.isdir(
      directory) else []
  return max(steps, default=0)


def final_state(workdir: str):
  """(metrics without wall_time, final state as numpy) of a finished run."""
  import jax
  import numpy as np

  from icl import evaluate
  from icl import workdir as workdir_lib
  records = [{k: v for k, v in r.items() if k != "wall_time"}
             for r in workdir_lib.read_metrics(workdir)]
  _, _, states, step = evaluate.load_run(workdir)
  return records, step, jax.tree.map(np.asarray, states)


def same_state(a, b) -> str | None:
  """None when equal, else what differs."""
  import jax
  import numpy as np
  (ra, sa, xa), (rb, sb, xb) = a, b
  if sa != sb:
    return f"final step {sb} != {sa}"
  if ra != rb:
    steps_a, steps_b = [r["step"] for r in ra], [r["step"] for r in rb]
    return (f"metrics differ (steps {steps_b} vs {steps_a})" if steps_a != steps_b
            else "metrics values differ")
  if jax.tree.structure(xa) != jax.tree.structure(xb):
    return "state structure differs"
  equal = jax.tree.leaves(jax.tree.map(np.array_equal, xa, xb))
  return None if all(equal) else f"{equal.count(False)} state leaves differ"


def kill_at_random(workdir: str, rng: random.Random, duration: float) -> tuple[str, int]:
  """Starts the run, SIGKILLs it at a random moment; (what happened, step reached).

  A fifth of the kills land at a uniformly random time after launch (start-up,
  compilation and the first writes included); the rest wait for the metrics line
  of a random chunk and kill within the next second (any phase of a chunk:
  training, evaluation, metrics write, checkpoint save).
  """
  proc = subprocess.Popen(train_command(workdir), cwd=REPO, env=environment(),
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  t0 = time.perf_counter()
  try:
    if rng.random() < 0.2:
      delay = rng.uniform(0, duration / 2)  # cached runs start faster than the first
    else:
      target = rng.randrange(LOG_EVERY, NUM_STEPS, LOG_EVERY)
      while last_step(workdir) < target and proc.poll() is None:
        time.sleep(0.02)
      delay = (time.perf_counter() - t0) + rng.uniform(0, 1.0)
    proc.wait(timeout=max(delay - (time.perf_counter() - t0), 0.0))
    when = f"finished before the kill ({delay:.1f}s)"
  except subprocess.TimeoutExpired:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    when = f"killed at {time.perf_counter() - t0:.1f}s"
  return when, last_step(workdir)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--cycles", type=int, default=20)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--dir", default=None, help="scratch dir (default: a temp dir)")
  parser.add_argument("--no_cache", action="store_true",
                      help="compile in every run (default: a shared compilation cache)")
  args = parser.parse_args(argv)
  rng = random.Random(args.seed)
  root = args.dir or tempfile.mkdtemp(prefix="icl_faults_")
  os.makedirs(root, exist_ok=True)
  if not args.no_cache:
    CACHE["dir"] = os.path.join(root, "jax_cache")
  t_start = time.perf_counter()

  reference_dir = os.path.join(root, "reference")
  shutil.rmtree(reference_dir, ignore_errors=True)
  t0 = time.perf_counter()
  run_to_end(reference_dir)
  duration = time.perf_counter() - t0
  reference = final_state(reference_dir)
  print(f"reference run: {duration:.1f}s, {len(reference[0])} metrics lines, "
        f"final step {reference[1]}", flush=True)

  equal = interrupted = 0
  for cycle in range(args.cycles):
    workdir = os.path.join(root, f"cycle{cycle}")
    shutil.rmtree(workdir, ignore_errors=True)
    when, step = kill_at_random(workdir, rng, duration)
    saved = latest_checkpoint(workdir)
    log = run_to_end(workdir)
    interrupted += when.startswith("killed")
    resumed = re.findall(r"Resuming .* from step (\d+)", log)
    resumed = int(resumed[0]) if resumed else 0
    diff = same_state(reference, final_state(workdir))
    if diff is None and resumed != saved:  # lost more than since the last save
      diff = f"resumed from step {resumed}, not the last checkpoint {saved}"
    equal += diff is None
    print(f"cycle {cycle}: {when}, metrics at step {step}, resumed from step "
          f"{resumed}: {'equal' if diff is None else diff}",
          flush=True)
    shutil.rmtree(workdir, ignore_errors=True)
  runtime = time.perf_counter() - t_start
  print(f"{equal}/{args.cycles} cycles equal the uninterrupted run "
        f"({interrupted} killed mid-run; runtime {runtime:.0f}s)", flush=True)
  if args.dir is None:
    shutil.rmtree(root, ignore_errors=True)
  return 0 if equal == args.cycles else 1


if __name__ == "__main__":
  sys.exit(main())
