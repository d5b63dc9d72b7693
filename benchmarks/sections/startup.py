"""Sections that time what a user waits for before training runs (full mode only).

- ttfs: in-process build, init and first chunk of a config not compiled yet;
- cold_start: `python -m icl.train` from process start to eval MSE <= EVAL_TARGET,
  without and with JAX's persistent compilation cache.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import jax

from benchmarks import harness
from benchmarks.sections.registry import Settings, register
from icl.train import core

EVAL_TARGET = 0.25  # eval MSE the cold-start measurement waits for (H = 2)


@register("ttfs", when=lambda s: not s.quick)
def time_to_first_step(s: Settings, results: dict, steps_chunk: int = 500) -> dict:
  """Build, init and first 500-step chunk of a config this process has not
  compiled yet (H = 4, so no cache hit), and its first evaluation."""
  del s, results
  t0 = time.perf_counter()
  config = harness.config_for(4)
  exp = core.Experiment.from_config(config)
  init_keys, data_keys = core.seed_keys(config)
  states = core.init_states(exp, init_keys)
  jax.block_until_ready(states)
  t_init = time.perf_counter() - t0
  states, metrics = core.train_chunk(exp, states, data_keys, steps_chunk)
  jax.block_until_ready(metrics)
  t_first = time.perf_counter() - t0
  t1 = time.perf_counter()
  ev = core.evaluate(exp, states["params"], jax.random.key(0), 20_000, 4096, None)
  jax.block_until_ready(ev)
  return {"heads": 4, "chunk_steps": steps_chunk, "init_s": t_init,
          "to_first_chunk_s": t_first, "first_eval_s": time.perf_counter() - t1}


def train_command(workdir: str) -> list[str]:
  """The cold-start run: H = 2, eval and probes every 250 steps."""
  return [sys.executable, "-m", "icl.train", "--config=configs/regression.py",
          f"--workdir={workdir}", "--config.train.num_steps=20000",
          "--config.train.log_every=250", "--config.train.eval_every=250",
          "--config.probes.every=250",
          "--config.train.ckpt_every=20000"]


def read_lines(path: str) -> list[str]:
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return f.read().splitlines()


def watch_metrics(proc: subprocess.Popen, metrics: str, t0: float, timeout: float,
                  out: dict) -> None:
  """Polls metrics.jsonl; fills first_metrics_s, to_target_s, step, eval_loss, or
  error."""
  seen = 0
  while time.perf_counter() - t0 < timeout:
    if proc.poll() is not None:
      out["error"] = f"exited with {proc.returncode}: {proc.stderr.read()[-300:]}"
      return
    lines = read_lines(metrics)
    now = time.perf_counter() - t0
    for line in lines[seen:]:
      rec = json.loads(line)
      out.setdefault("first_metrics_s", now)
      if rec.get("eval_loss", float("inf")) <= EVAL_TARGET:
        out.update(to_target_s=now, step=rec["step"], eval_loss=rec["eval_loss"])
        return
    seen = len(lines)
    time.sleep(0.02)
  out["error"] = f"no eval_loss <= {EVAL_TARGET} within {timeout:.0f}s"


def cold_start(cache_dir: str | None, timeout: float = 240.0) -> dict:
  """Wall time from `python -m icl.train` process start to the first metrics line
  and to the first eval_loss <= EVAL_TARGET."""
  workdir = tempfile.mkdtemp(prefix="icl_cold_")
  env = harness.subprocess_env()
  if cache_dir:
    env["JAX_COMPILATION_CACHE_DIR"] = cache_dir
    env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
  else:  # a truly cold start: without the cache the entry points turn on by default
    env["ICL_COMPILATION_CACHE"] = "0"
  cmd = train_command(workdir)
  t0 = time.perf_counter()
  proc = subprocess.Popen(cmd, cwd=harness.ROOT, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
  out = {"command": " ".join(cmd[1:]), "cache": bool(cache_dir)}
  try:
    watch_metrics(proc, os.path.join(workdir, "metrics.jsonl"), t0, timeout, out)
  finally:
    if proc.poll() is None:
      proc.terminate()
      try:
        proc.wait(10)
      except subprocess.TimeoutExpired:
        proc.kill()
    shutil.rmtree(workdir, ignore_errors=True)
  return out


@register("cold_start", when=lambda s: not s.quick and s.cold_start)
def cold_starts(s: Settings, results: dict) -> dict:
  """No cache, then a fresh cache's first run, then the warm cache."""
  del s, results
  cache = tempfile.mkdtemp(prefix="icl_jax_cache_")
  try:
    return {"no_cache": cold_start(None), "cache_first_run": cold_start(cache),
            "cache_warm": cold_start(cache)}
  finally:
    shutil.rmtree(cache, ignore_errors=True)
