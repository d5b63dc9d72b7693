"""The whole process a user waits for: `python -m icl.train` of the default regression
config at 20k steps, from process start to exit, beside its training-loop time and
beside the reference PyTorch code's whole run (full mode only).

- icl, warm: the command on a new work dir with a persistent compilation cache that
  already holds its programs (what every run after a config's first pays; the
  cold_start section times the first run without a cache);
- torch: `python -m benchmarks.torch_reference` (benchmarks/torch_reference.py:
  the same steps, a loss line every 500 steps, the test MSE on 20,000 prompts every
  2,500 steps and at the end, the model saved), at the thread count that was faster
  in the baselines section (torch's default when that section did not run).

The loop time is `steps / (steps/s of core.train_chunk)` for the same config (H = 2,
best blocks measured in this process before, between and after the timed runs):
what the run would take with no start-up, compiles, evaluations, probes,
checkpoints or writes. Two loop times, two ratios:

- `over_loop`: against the fastest of all the loop's blocks (each block the best of
  `repeats`), the faster whole run of `WHOLE_RUNS`. A best case for the loop, so it
  also counts the VM's slowdowns during the runs as overhead (this VM's speed drifts
  by 20-35% within a minute);
- `over_loop_beside` (the target's ratio): each run against the mean of the two
  blocks measured just before and just after it, the loop's speed in the minute of
  the run. `in_run_steps_per_s`, the run's own speed between its first and last
  metrics lines (evaluations and saves included), checks it: in a full run of
  2026-12-04 a whole run's loop went at 1,635 steps/s, the block between the two
  runs at 1,641, those before and after them at 1,809 and 1,831.

The ratio to torch's single run uses the slower icl run. The processes run one after
another (icl to fill the cache, untimed, stopped after its first metrics line;
torch; then loop, icl warm, loop, icl warm, loop).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from benchmarks import harness
from benchmarks.sections.baselines import torch_skip_reason
from benchmarks.sections.registry import Settings, register
from icl import workdir as workdir_lib

STEPS = 20_000
HEADS = 2
WHOLE_RUNS = 2


def icl_command(workdir: str, steps: int) -> list[str]:
  """The default regression run (H = 2; eval every 2.5k, probes every 100 steps,
  checkpoints every 2.5k: the config's own cadences) at `steps` steps."""
  return [sys.executable, "-m", "icl.train", "--config=configs/regression.py",
          f"--workdir={workdir}", f"--config.train.num_steps={steps}"]


def torch_command(steps: int, threads: int, out: str) -> list[str]:
  return [sys.executable, "-m", "benchmarks.torch_reference", f"--steps={steps}",
          f"--heads={HEADS}", f"--threads={threads}", f"--out={out}"]


def timed(cmd: list[str], env: dict, timeout: float) -> dict:
  """Wall seconds of one process from spawn to exit (error text on failure)."""
  t0 = time.perf_counter()
  proc = subprocess.run(cmd, cwd=harness.ROOT, env=env, stdout=subprocess.DEVNULL,
                        stderr=subprocess.PIPE, text=True, timeout=timeout)
  out = {"wall_s": time.perf_counter() - t0}
  if proc.returncode:
    out["error"] = f"exited with {proc.returncode}: {proc.stderr[-300:]}"
  return out


def icl_env(cache_dir: str) -> dict:
  """The icl processes' environment: the compilation cache in `cache_dir`."""
  env = harness.subprocess_env(JAX_COMPILATION_CACHE_DIR=cache_dir)
  env.pop("ICL_COMPILATION_CACHE", None)
  return env


def icl_run(steps: int, cache_dir: str, timeout: float) -> dict:
  """One `python -m icl.train` process; the first metrics line's and the last
  line's times after spawn (from metrics.jsonl's wall_time) next to its wall."""
  workdir = tempfile.mkdtemp(prefix="icl_whole_")
  try:
    spawn = time.time()
    out = timed(icl_command(workdir, steps), icl_env(cache_dir), timeout)
    lines = ([r for r in workdir_lib.read_metrics(workdir) if "train_loss" in r]
             if "error" not in out else [])
    if lines:
      out["first_metrics_s"] = lines[0]["wall_time"] - spawn
      out["last_metrics_s"] = lines[-1]["wall_time"] - spawn
      out["eval_loss"] = lines[-1].get("eval_loss")
    if len(lines) > 1 and out["last_metrics_s"] > out["first_metrics_s"]:
      # the run's own loop speed, evaluations and saves included (drift check)
      out["in_run_steps_per_s"] = ((lines[-1]["step"] - lines[0]["step"])
                                   / (out["last_metrics_s"] - out["first_metrics_s"]))
    return out
  finally:
    shutil.rmtree(workdir, ignore_errors=True)


def warm_cache(steps: int, cache_dir: str, timeout: float) -> None:
  """Fills the compilation cache with the timed run's programs: the same command
  (a shorter run compiles another training program: the weight-snapshot slots per
  chunk depend on the run's length), stopped by SIGTERM once its first metrics line
  is written (the training and evaluation programs are compiled by then)."""
  workdir = tempfile.mkdtemp(prefix="icl_whole_warm_")
  proc = subprocess.Popen(icl_command(workdir, steps), cwd=harness.ROOT, env=icl_env(cache_dir),
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  try:
    deadline = time.time() + timeout
    while proc.poll() is None and time.time() < deadline:
      if workdir_lib.read_metrics(workdir, missing_ok=True):
        proc.send_signal(signal.SIGTERM)  # checkpoints and exits (status 75)
        break
      time.sleep(0.1)
    proc.wait(timeout=max(deadline - time.time(), 1.0))
  finally:
    if proc.poll() is None:
      proc.kill()
    shutil.rmtree(workdir, ignore_errors=True)


def loop_steps_per_s(s: Settings) -> float:
  """core.train_chunk's steps/s at H = 2, 1 seed, measured here (best of
  `s.repeats` blocks). Measured next to the whole run, before and after it: this
  VM's speed drifts by up to 25% between minutes, so the icl section's row, taken
  minutes earlier, made the ratio a measure of the drift (1.05x in one run, 1.62x
  in another, on the same code)."""
  case = harness.icl_case(HEADS, "softmax", 1, s.steps)
  best = harness.interleaved({"icl": case.block}, s.repeats)["icl"]
  return case.steps / best


def torch_threads(results: dict) -> int:
  """The faster torch thread count of the baselines section at H = 2 (0: torch's
  default)."""
  rows = [r for r in (results.get("baselines") or {}).get("rows", [])
          if r.get("case", "").startswith(f"torch eager H={HEADS} threads=")]
  if not rows:
    return 0
  best = max(rows, key=lambda r: r["steps_per_s"])
  return int(best["case"].rsplit("=", 1)[1])


def whole_process(s: Settings, results: dict, steps: int = STEPS,
                  timeout: float = 600.0, runs_count: int = WHOLE_RUNS) -> dict:
  """icl's whole run (warm cache, the best of `runs_count`) vs its loop time and vs
  torch's run."""
  out = {"steps": steps, "heads": HEADS, "skipped": {}}
  cache = tempfile.mkdtemp(prefix="icl_whole_cache_")
  try:
    warm_cache(steps, cache, timeout)
    reason = torch_skip_reason(s)
    if reason:
      out["skipped"]["torch"] = reason
    else:
      threads = torch_threads(results)
      model = os.path.join(cache, "model.pt")
      out["torch"] = dict(timed(torch_command(steps, threads, model),
                                harness.subprocess_env(), timeout),
                          threads=threads or "default")
    loops, runs = [loop_steps_per_s(s)], []
    for _ in range(runs_count):
      runs.append(icl_run(steps, cache, timeout))
      loops.append(loop_steps_per_s(s))
  finally:
    shutil.rmtree(cache, ignore_errors=True)
  # The loop's speed in the minutes of the runs: the fastest of the blocks measured
  # before, between and after them (the loop time is a best case, as elsewhere).
  sps = max(loops)
  out.update(loop_steps_per_s=sps, loop_before=loops[0], loop_after=loops[-1],
             loop_between=loops[1:-1], loop_s=steps / sps)
  for i, run in enumerate(runs):  # against the blocks measured just before and after it
    if "error" not in run:
      run["loop_beside_steps_per_s"] = (loops[i] + loops[i + 1]) / 2
      run["over_loop_beside"] = run["wall_s"] * run["loop_beside_steps_per_s"] / steps
  good = [r for r in runs if "error" not in r]
  out["icl_warm"] = min(good, key=lambda r: r["wall_s"]) if good else runs[0]
  out["icl_warm_walls"] = [r["wall_s"] for r in good]
  warm, torch_run = out["icl_warm"], out.get("torch", {})
  if "error" not in warm:
    warm["over_loop"] = warm["wall_s"] / out["loop_s"]
    warm["overhead_s"] = warm["wall_s"] - out["loop_s"]
  if "wall_s" in torch_run and "error" not in torch_run and good:
    out["icl_vs_torch"] = torch_run["wall_s"] / max(out["icl_warm_walls"])
  return out


register("whole_process", when=lambda s: not s.quick)(whole_process)
