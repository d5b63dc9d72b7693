"""Every speed claim of icl, measured side by side in one process.

  python -m benchmarks.run            # full run (< 10 min on a 2-core CPU)
  python -m benchmarks.run --quick    # tiny mode (tests/benchmarks/test_harness.py)

Writes benchmarks/RESULTS.md (tables with machine, versions, date) and
benchmarks/results.json. Alternatives that are compared with each other run in the
same process, their timed blocks interleaved, and each reports the best of
`--repeats` blocks: on a shared machine only ratios measured this way are meaningful.

Sections: the default training path (`core.train_chunk`) for H in {1, 2, 8},
softmax and linear; the same step in a Python loop with host-side numpy data; a
PyTorch eager re-implementation (benchmarks/torch_reference.py, extra `icl[bench]`)
and torch.compile; vmapped seeds; probes on/off; compile time and the wall time of a
cold `python -m icl.train` to eval MSE <= 0.25; achieved FLOP/s against a measured
matmul peak; the larger token models.
"""

from __future__ import annotations

import datetime
import glob
import importlib
import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from configs.regression import get_config
from icl.train import core

flags.DEFINE_bool("quick", False, "Tiny mode: few steps, H=2 only, no cold start.")
flags.DEFINE_string("out", "benchmarks", "Directory for RESULTS.md and results.json.")
flags.DEFINE_integer("steps", 0, "Steps per timed block of the fast paths (0: mode default).")
flags.DEFINE_integer("repeats", 0, "Timed blocks per case; the best counts (0: mode default).")
flags.DEFINE_bool("torch", True, "Run the PyTorch baseline (skipped if torch is missing).")
flags.DEFINE_bool("torch_compile", True, "Also time torch.compile (full mode only).")
flags.DEFINE_bool("cold_start", True, "Time a cold `python -m icl.train` (full mode only).")
flags.DEFINE_string("notes", "", "A line on the machine's state, printed in RESULTS.md.")
FLAGS = flags.FLAGS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EVAL_TARGET = 0.25  # eval MSE the cold-start measurement waits for (H = 2)
BLOCK_SECONDS = 1.0  # the slow baselines' blocks are cut to about this long


# --- timing ------------------------------------------------------------------------


def interleaved(cases: dict[str, Callable[[], None]], repeats: int) -> dict[str, float]:
  """Best wall time of each case's block over `repeats` rounds, cases interleaved
  within a round so that load changes hit all of them alike."""
  best = {name: float("inf") for name in cases}
  for _ in range(repeats):
    for name, block in cases.items():
      t0 = time.perf_counter()
      block()
      best[name] = min(best[name], time.perf_counter() - t0)
  return best


class IclCase:
  """The default training path: core.train_chunk on S vmapped seeds."""

  def __init__(self, config, steps: int):
    t0 = time.perf_counter()
    self.config, self.steps = config, steps
    self.exp = core.Experiment.from_config(config)
    init_keys, self.data_keys = core.seed_keys(config)
    self.states = core.init_states(self.exp, init_keys)
    jax.block_until_ready(self.states)
    self.init_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    self.block()
    self.first_s = time.perf_counter() - t0  # compile + one block

  def block(self) -> None:
    self.states, metrics = core.train_chunk(self.exp, self.states, self.data_keys,
                                            self.steps)
    jax.block_until_ready(metrics)

  def memory(self) -> dict:
    """XLA's compiled memory analysis of the chunk (bytes)."""
    compiled = core.train_chunk.lower(self.exp, self.states, self.data_keys,
                                      self.steps).compile()
    m = compiled.memory_analysis()
    out = {k: int(getattr(m, k + "_in_bytes", 0)) for k in
           ("argument_size", "output_size", "temp_size", "generated_code_size")}
    out["total"] = out["argument_size"] + out["output_size"] + out["temp_size"]
    return out


def numpy_batch(rng: np.random.Generator, task, batch_size: int) -> dict:
  """The regression task's distribution drawn on the host with numpy."""
  d, length = task.dim, task.context_len
  beta = rng.standard_normal((batch_size, d), np.float32) / np.float32(math.sqrt(d))
  x = rng.standard_normal((batch_size, length + 1, d), np.float32)
  noise = np.float32(math.sqrt(task.noise_var)) * rng.standard_normal(
      (batch_size, length + 1), np.float32)
  y = np.einsum("bld,bd->bl", x, beta) + noise
  return {"x": x[:, :length], "y": y[:, :length], "xq": x[:, length],
          "yq": y[:, length], "beta": beta}


class PythonLoopCase:
  """The same step jitted alone, called from a Python loop on host numpy batches
  (the pattern most research code uses)."""

  def __init__(self, config, steps: int):
    self.steps = steps
    self.exp = exp = core.Experiment.from_config(config)
    self.batch_size = config.train.batch_size
    self.rng = np.random.default_rng(0)

    def step(state, batch):
      (loss, _), grads = jax.value_and_grad(exp.loss, has_aux=True)(
          state["params"], batch)
      updates, opt_state = exp.optimizer.update(grads, state["opt_state"],
                                                state["params"])
      params = jax.tree.map(jnp.add, state["params"], updates)
      return {"params": params, "opt_state": opt_state,
              "step": state["step"] + 1}, loss

    self.step = jax.jit(step, donate_argnums=(0,))
    self.state = jax.jit(exp.init_state)(jax.random.key(config.seed))
    t0 = time.perf_counter()
    self.block()
    self.first_s = time.perf_counter() - t0

  def block(self) -> None:
    loss = None
    for _ in range(self.steps):
      batch = numpy_batch(self.rng, self.exp.task, self.batch_size)
      self.state, loss = self.step(self.state, batch)
    jax.block_until_ready(loss)


class TorchCase:
  def __init__(self, heads: int, attention: str, steps: int, threads: int,
               compile: bool = False):
    import torch
    from benchmarks import torch_reference as tr
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    self.threads, self.steps = threads, steps
    self.gen = torch.Generator().manual_seed(0)
    model = tr.OneLayerAttention(num_heads=heads, attention=attention)
    self.fn = tr.make_step(model, torch.optim.Adam(model.parameters(), lr=1e-3))
    if compile:
      model.forward = torch.compile(model.forward)
    self.sample = tr.sample
    self.torch = torch
    t0 = time.perf_counter()
    self._run(3)
    self.first_s = time.perf_counter() - t0
    # Blocks of about a second: a slow configuration (e.g. OpenMP threads spinning
    # on a busy machine) must not take the whole run.
    t0 = time.perf_counter()
    self._run(3)
    self.steps = int(max(5, min(steps, BLOCK_SECONDS / ((time.perf_counter() - t0) / 3))))

  def _run(self, n: int) -> None:
    self.torch.set_num_threads(self.threads)
    for _ in range(n):
      loss = self.fn(*self.sample(256, generator=self.gen))
    float(loss.detach())

  def block(self) -> None:
    self._run(self.steps)


# --- sections ----------------------------------------------------------------------

_ICL_CASES: dict = {}


def icl_case(heads: int, attention: str = "softmax", seeds: int = 1,
             steps: int = 100) -> IclCase:
  """One compiled case per (heads, attention, seeds, steps), shared by the sections."""
  key = (heads, attention, seeds, steps)
  if key not in _ICL_CASES:
    _ICL_CASES[key] = IclCase(config_for(heads, attention, seeds), steps)
  return _ICL_CASES[key]


def config_for(heads: int = 2, attention: str = "softmax", seeds: int = 1):
  c = get_config()
  c.model.num_heads = heads
  c.model.attention = attention
  c.train.num_seeds = seeds
  return c


def section_icl(heads, attentions, steps, repeats) -> list[dict]:
  cases, rows = {}, {}
  for attention in attentions:
    for h in heads:
      name = f"{attention} H={h}"
      cases[name] = icl_case(h, attention, 1, steps)
  best = interleaved({n: c.block for n, c in cases.items()}, repeats)
  for name, case in cases.items():
    attention, h = name.split(" H=")
    rows[name] = {"attention": attention, "heads": int(h),
                  "steps_per_s": steps / best[name],
                  "ms_per_step": 1e3 * best[name] / steps,
                  "init_s": case.init_s, "first_block_s": case.first_s,
                  "compile_s": max(case.first_s - best[name], 0.0)}
  return list(rows.values())


def section_baselines(heads, steps, repeats, with_torch, torch_compile) -> dict:
  """icl vs the Python loop vs PyTorch, same head counts, blocks interleaved."""
  cases, steps_of, skipped = {}, {}, {}
  slow = max(steps // 5, 10)
  torch_ok = False
  if with_torch:
    try:
      import torch  # noqa: F401
      torch_ok = True
    except ImportError as e:
      skipped["torch"] = f"torch not importable ({e}); pip install -e '.[bench]'"
  else:
    skipped["torch"] = "disabled by --notorch"
  cores = os.cpu_count() or 1
  for h in heads:
    cases[f"icl H={h}"] = icl_case(h, "softmax", 1, steps)
    steps_of[f"icl H={h}"] = steps
    cases[f"python loop H={h}"] = PythonLoopCase(config_for(h), slow)
    steps_of[f"python loop H={h}"] = slow
    if torch_ok:
      for threads in sorted({cores, 1}):
        name = f"torch eager H={h} threads={threads}"
        cases[name] = TorchCase(h, "softmax", slow, threads)
        steps_of[name] = cases[name].steps
  if torch_ok and torch_compile:
    h = 2 if 2 in heads else heads[0]
    name = f"torch.compile H={h} threads=1"
    try:
      t0 = time.perf_counter()
      cases[name] = TorchCase(h, "softmax", slow, 1, compile=True)
      steps_of[name] = cases[name].steps
      skipped.pop("torch.compile", None)
      compile_s = time.perf_counter() - t0
    except Exception as e:  # inductor needs a working C++ toolchain
      skipped["torch.compile"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
  elif torch_ok:
    skipped["torch.compile"] = "not run in this mode (--quick or --notorch_compile)"
  best = interleaved({n: c.block for n, c in cases.items()}, repeats)
  rows = []
  for name, case in cases.items():
    row = {"case": name, "steps_per_s": steps_of[name] / best[name],
           "first_block_s": case.first_s}
    if name.startswith("torch.compile"):
      row["compile_s"] = compile_s
    rows.append(row)
  return {"rows": rows, "skipped": skipped}


def section_seeds(seed_counts, steps, repeats) -> list[dict]:
  cases, steps_of = {}, {}
  for s in seed_counts:
    n = max(steps // s, 20)
    cases[s], steps_of[s] = icl_case(2, "softmax", s, n), n
  best = interleaved({s: c.block for s, c in cases.items()}, repeats)
  rows = []
  for s, case in cases.items():
    sps = steps_of[s] / best[s]
    rows.append({"seeds": s, "steps_per_s": sps,
                 "prompt_steps_per_s": sps * s * case.config.train.batch_size,
                 "memory": case.memory(), "compile_s": max(case.first_s - best[s], 0)})
  base = rows[0]["prompt_steps_per_s"]
  for r in rows:
    r["speedup_vs_1_seed"] = r["prompt_steps_per_s"] / base
  return rows


def section_sampler(steps, repeats) -> list[dict]:
  """One training batch (256 prompts, 64k normals) drawn alone in a scan, per bit
  generator: the sampler's layout choice (icl/tasks/regression.py) made measurable."""
  from icl.tasks.regression import RegressionTask
  task = RegressionTask()
  variants = {"threefry, compact layout (icl)": ("threefry2x32", False),  # one draw each
              "threefry, partitionable layout (JAX default)": ("threefry2x32", True),
              "rbg": ("rbg", False), "unsafe_rbg": ("unsafe_rbg", False)}
  cases, rows = {}, {}
  for name, (impl, partitionable) in variants.items():
    def chunk(key, partitionable=partitionable):
      def body(c, t):
        with jax.threefry_partitionable(partitionable):
          b = task._sample(jax.random.fold_in(key, t), 256, None)
        # Every array is consumed, so XLA cannot skip part of the draw.
        return c + sum(jnp.sum(v) for v in b.values()), None
      return jax.lax.scan(body, jnp.float32(0), jnp.arange(steps))[0]
    fn, key = jax.jit(chunk), jax.random.key(0, impl=impl)
    t0 = time.perf_counter()
    jax.block_until_ready(fn(key))
    rows[name] = {"generator": name, "first_call_s": time.perf_counter() - t0}
    cases[name] = lambda fn=fn, key=key: jax.block_until_ready(fn(key))
  best = interleaved(cases, repeats)
  for name, row in rows.items():
    row["ms_per_batch"] = 1e3 * best[name] / steps
  return list(rows.values())


def section_probes(steps, repeats) -> dict:
  config = get_config()
  if "probes" not in config:
    return {"status": "pending", "reason": "config.probes does not exist on this branch"}
  try:
    every = config.probes.every
    off = get_config()
    off.probes.every = 0
    cases = {"probes on": IclCase(config_for_probes(every), steps),
             "probes off": IclCase(off, steps)}
    best = interleaved({n: c.block for n, c in cases.items()}, repeats)
    on_s, off_s = steps / best["probes on"], steps / best["probes off"]
    return {"status": "measured", "every": every, "on_steps_per_s": on_s,
            "off_steps_per_s": off_s, "overhead": off_s / on_s - 1.0}
  except Exception as e:  # the probe API is still moving on other branches
    return {"status": "pending", "reason": f"{type(e).__name__}: {e}"}


def config_for_probes(every):
  c = get_config()
  c.probes.every = every
  return c


def section_models(steps, repeats) -> dict:
  if not os.path.exists(os.path.join(ROOT, "icl", "models", "transformer.py")):
    return {"status": "pending", "reason": "icl/models/transformer.py does not exist on this branch"}
  rows, cases = [], {}
  for path in sorted(glob.glob(os.path.join(ROOT, "configs", "*.py"))):
    name = os.path.splitext(os.path.basename(path))[0]
    try:
      config = importlib.import_module(f"configs.{name}").get_config()
      if config.model.name == "one_layer":
        continue
      cases[name] = IclCase(config, max(steps // 10, 10))
    except Exception as e:
      rows.append({"config": name, "error": f"{type(e).__name__}: {e}"[:200]})
  best = interleaved({n: c.block for n, c in cases.items()}, repeats)
  for name, case in cases.items():
    rows.append({"config": name, "model": case.config.model.name,
                 "steps_per_s": case.steps / best[name],
                 "compile_s": max(case.first_s - best[name], 0.0)})
  return {"status": "measured", "rows": rows}


def analytic_flops_per_step(heads: int, dim: int = 5, length: int = 40,
                            batch: int = 256) -> float:
  """Model FLOPs of one step (forward of the reassociated model, x3 for the
  backward; multiply-add = 2 FLOPs; data generation and Adam not counted)."""
  width = dim + 1
  forward = 2 * heads * (2 * width * width + 2 * length * width + width) + 5 * heads * length
  return 3.0 * forward * batch


def section_flops(icl_rows, quick) -> dict:
  n = 512 if quick else 1024
  a = jnp.ones((n, n), jnp.float32)
  mm = jax.jit(lambda a: a @ a)
  jax.block_until_ready(mm(a))
  best = interleaved({"mm": lambda: jax.block_until_ready(mm(a))}, 5 if quick else 20)["mm"]
  peak = 2 * n ** 3 / best
  rows = []
  for r in icl_rows:
    if r["attention"] != "softmax":
      continue
    exp = core.Experiment.from_config(config_for(r["heads"]))
    state = jax.jit(exp.init_state)(jax.random.key(0))
    compiled = jax.jit(exp.train_step).lower(state, jax.random.key(1)).compile()
    xla = float(compiled.cost_analysis().get("flops", float("nan")))
    model = analytic_flops_per_step(r["heads"])
    rows.append({"heads": r["heads"], "xla_flops_per_step": xla,
                 "model_flops_per_step": model,
                 "xla_flop_per_s": xla * r["steps_per_s"],
                 "model_flop_per_s": model * r["steps_per_s"],
                 "fraction_of_peak_xla": xla * r["steps_per_s"] / peak,
                 "fraction_of_peak_model": model * r["steps_per_s"] / peak})
  return {"matmul_n": n, "matmul_peak_flop_per_s": peak, "rows": rows}


def cold_start(cache_dir: str | None, timeout: float = 240.0) -> dict:
  """Wall time from `python -m icl.train` process start to the first metrics line
  and to the first eval_loss <= EVAL_TARGET (H = 2, evaluation every 250 steps)."""
  workdir = tempfile.mkdtemp(prefix="icl_cold_")
  env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
  if cache_dir:
    env["JAX_COMPILATION_CACHE_DIR"] = cache_dir
    env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
  cmd = [sys.executable, "-m", "icl.train", "--config=configs/regression.py",
         f"--workdir={workdir}", "--config.train.num_steps=20000",
         "--config.train.log_every=250", "--config.train.eval_every=250",
         "--config.probes.every=250",
         "--config.train.ckpt_every=20000"]
  metrics = os.path.join(workdir, "metrics.jsonl")
  t0 = time.perf_counter()
  proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
  out = {"command": " ".join(cmd[1:]), "cache": bool(cache_dir)}
  try:
    seen = 0
    while time.perf_counter() - t0 < timeout:
      if proc.poll() is not None:
        out["error"] = f"exited with {proc.returncode}: {proc.stderr.read()[-300:]}"
        break
      lines = open(metrics).read().splitlines() if os.path.exists(metrics) else []
      now = time.perf_counter() - t0
      for line in lines[seen:]:
        rec = json.loads(line)
        out.setdefault("first_metrics_s", now)
        if rec.get("eval_loss", float("inf")) <= EVAL_TARGET:
          out.update(to_target_s=now, step=rec["step"], eval_loss=rec["eval_loss"])
          break
      seen = len(lines)
      if "to_target_s" in out:
        break
      time.sleep(0.02)
    else:
      out["error"] = f"no eval_loss <= {EVAL_TARGET} within {timeout:.0f}s"
  finally:
    if proc.poll() is None:
      proc.terminate()
      try:
        proc.wait(10)
      except subprocess.TimeoutExpired:
        proc.kill()
    shutil.rmtree(workdir, ignore_errors=True)
  return out


def section_cold_start() -> dict:
  cache = tempfile.mkdtemp(prefix="icl_jax_cache_")
  try:
    return {"no_cache": cold_start(None), "cache_first_run": cold_start(cache),
            "cache_warm": cold_start(cache)}
  finally:
    shutil.rmtree(cache, ignore_errors=True)


def section_ttfs(steps_chunk: int = 500) -> dict:
  """What a user waits for in-process: build, init and first 500-step chunk of a
  config this process has not compiled yet (H = 4, so no cache hit)."""
  t0 = time.perf_counter()
  config = config_for(4)
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


# --- environment and report --------------------------------------------------------


def environment() -> dict:
  cpu = platform.processor() or ""
  try:
    for line in open("/proc/cpuinfo"):
      if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip()
        break
  except OSError:
    pass
  versions = {"python": platform.python_version(), "jax": jax.__version__,
              "jaxlib": importlib.import_module("jaxlib").__version__}
  for mod in ("flax", "optax", "numpy", "torch"):
    try:
      versions[mod] = importlib.import_module(mod).__version__
    except ImportError:
      versions[mod] = "not installed"
  try:
    load = os.getloadavg()
  except OSError:
    load = (float("nan"),) * 3
  return {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
          "machine": f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}",
          "device": str(jax.devices()[0]), "versions": versions,
          "load_avg_start": [round(x, 2) for x in load],
          "xla_flags": os.environ.get("XLA_FLAGS", "")}


def _find(rows, key, value):
  return next((r for r in rows if r.get(key) == value), None)


def headline(results: dict) -> dict:
  """The ratios the README quotes."""
  out = {}
  base = {r["case"]: r["steps_per_s"] for r in results["baselines"]["rows"]}
  for h in results["heads"]:
    icl = base.get(f"icl H={h}")
    loop = base.get(f"python loop H={h}")
    torch_best = max((v for k, v in base.items()
                      if k.startswith(f"torch eager H={h} ")), default=None)
    if icl and loop:
      out[f"icl_vs_python_loop_H{h}"] = icl / loop
    if icl and torch_best:
      out[f"icl_vs_torch_eager_H{h}"] = icl / torch_best
    comp = base.get(f"torch.compile H={h} threads=1")
    if icl and comp:
      out[f"icl_vs_torch_compile_H{h}"] = icl / comp
  seeds = {r["seeds"]: r for r in results["seeds"]}
  for s in seeds:
    out[f"seeds_{s}_vs_1_prompt_throughput"] = seeds[s]["speedup_vs_1_seed"]
  return out


def targets(results: dict) -> list[tuple[str, str, str]]:
  """(target, measured, verdict) rows."""
  rows = []
  sm = {r["heads"]: r["steps_per_s"] for r in results["icl"] if r["attention"] == "softmax"}
  for h, goal in ((2, 1500), (8, 900)):
    if h in sm:
      rows.append((f"H={h} >= {goal} steps/s", f"{sm[h]:,.0f}",
                   "met" if sm[h] >= goal else "not met"))
  head = results["headline"]
  for k, v in head.items():
    if k.startswith("icl_vs_torch_eager"):
      rows.append((f"{k} >= 5x", f"{v:.1f}x", "met" if v >= 5 else "not met"))
  s16 = head.get("seeds_16_vs_1_prompt_throughput")
  if s16 is not None:
    rows.append(("16 seeds >= 1 seed (prompt-steps/s)", f"{s16:.2f}x",
                 "met" if s16 >= 1 else "not met"))
    rows.append(("16 seeds >= 6x 1 seed (other issue)", f"{s16:.2f}x",
                 "met" if s16 >= 6 else "not met"))
  p = results["probes"]
  if p.get("status") == "measured":
    rows.append(("probes cost <= 20%", f"{100 * p['overhead']:.0f}%",
                 "met" if p["overhead"] <= 0.2 else "not met"))
  else:
    rows.append(("probes cost <= 20%", "pending", p.get("reason", "")))
  cs = results.get("cold_start", {})
  for k in ("no_cache", "cache_warm"):
    t = cs.get(k, {}).get("to_target_s")
    if t is not None:
      rows.append((f"cold start to eval <= {EVAL_TARGET} ({k}) <= 20 s", f"{t:.1f} s",
                   "met" if t <= 20 else "not met"))
  return rows


def _fmt(x, nd=0):
  if x is None or (isinstance(x, float) and math.isnan(x)):
    return "-"
  return f"{x:,.{nd}f}"


def render(results: dict) -> str:
  env = results["environment"]
  L = ["# icl benchmarks", "",
       f"Generated by `python -m benchmarks.run{' --quick' if results['quick'] else ''}`"
       f" on {env['date']}.", "",
       f"- machine: {env['machine']}; JAX device {env['device']}",
       "- versions: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items()),
       f"- load average at start / end: {env['load_avg_start']} / {env.get('load_avg_end')}"
       " (more than the core count means the numbers are low and noisy; compare ratios)",
       f"- method: best of {results['repeats']} interleaved blocks per case"
       f" ({results['steps']} steps per icl block); total wall {results['wall_s']:.0f} s", ""]
  if results.get("notes"):
    L += ["Notes: " + results["notes"], ""]
  L += ["## Targets", "", "| target | measured | verdict |", "|---|---|---|"]
  L += [f"| {a} | {b} | {c} |" for a, b, c in results["targets"]]
  L += ["", "## Default training path (`core.train_chunk`, 1 seed, batch 256)", "",
        "| attention | H | steps/s | ms/step | compile s | init s |", "|---|---|---|---|---|---|"]
  for r in results["icl"]:
    L.append(f"| {r['attention']} | {r['heads']} | {_fmt(r['steps_per_s'])} | "
             f"{_fmt(r['ms_per_step'], 3)} | {_fmt(r['compile_s'], 1)} | {_fmt(r['init_s'], 1)} |")
  L += ["", "## icl vs a Python loop vs PyTorch (softmax, same step, blocks interleaved)", "",
        "| case | steps/s | first block s |", "|---|---|---|"]
  for r in results["baselines"]["rows"]:
    extra = f" (compile {r['compile_s']:.0f} s)" if "compile_s" in r else ""
    L.append(f"| {r['case']} | {_fmt(r['steps_per_s'])} | {_fmt(r['first_block_s'], 1)}{extra} |")
  for k, v in results["baselines"]["skipped"].items():
    L.append(f"| {k} | skipped: {v} | |")
  L += ["", "Ratios: " + ", ".join(f"{k} = {v:.2f}" for k, v in results["headline"].items()), ""]
  L += ["## Vmapped seeds (softmax, H = 2)", "",
        "| seeds | steps/s | prompt-steps/s | vs 1 seed | compiled memory MiB (args+out+temp) |",
        "|---|---|---|---|---|"]
  for r in results["seeds"]:
    L.append(f"| {r['seeds']} | {_fmt(r['steps_per_s'])} | {_fmt(r['prompt_steps_per_s'])} | "
             f"{r['speedup_vs_1_seed']:.2f}x | {r['memory']['total'] / 2**20:.2f} |")
  L += ["", f"Peak RSS of this process: {results['peak_rss_mib']:.0f} MiB.", ""]
  L += ["## The sampler alone (one batch of 256 prompts, 64k normals)", "",
        "| bit generator | ms/batch | first call s (compile) |", "|---|---|---|"]
  for r in results.get("sampler", []):
    L.append(f"| {r['generator']} | {_fmt(r['ms_per_batch'], 3)} | {_fmt(r['first_call_s'], 1)} |")
  L += ["", "All four give the same distribution; icl keeps threefry (the JAX default "
        "generator) and draws with its compact layout, which hashes half as many "
        "counters per normal.", ""]
  p = results["probes"]
  L += ["## Probes at the default cadence", ""]
  if p.get("status") == "measured":
    L += [f"every {p['every']} steps: on {_fmt(p['on_steps_per_s'])} steps/s, off "
          f"{_fmt(p['off_steps_per_s'])} steps/s, overhead {100 * p['overhead']:.1f}%", ""]
  else:
    L += [f"pending: {p.get('reason')}", ""]
  L += ["## Compile time and time to first step", ""]
  t = results.get("ttfs")
  if t:
    L += [f"In-process, a fresh config (H = {t['heads']}): build + init {t['init_s']:.1f} s, "
          f"first {t['chunk_steps']}-step chunk done at {t['to_first_chunk_s']:.1f} s; "
          f"first evaluation (20k prompts, compile included) {t['first_eval_s']:.1f} s.", ""]
  cs = results.get("cold_start")
  if cs:
    L += [f"Cold start, `python -m icl.train` (H = 2, eval every 250 steps) from process "
          f"start to eval MSE <= {EVAL_TARGET}:", "",
          "| persistent compilation cache | first metrics line s | eval <= 0.25 s | step | eval MSE |",
          "|---|---|---|---|---|"]
    for k, r in cs.items():
      if "error" in r:
        L.append(f"| {k} | error: {r['error']} | | | |")
      else:
        L.append(f"| {k} | {_fmt(r.get('first_metrics_s'), 1)} | {_fmt(r.get('to_target_s'), 1)} | "
                 f"{r.get('step')} | {_fmt(r.get('eval_loss'), 3)} |")
    L += ["", "The cache is JAX's own: `JAX_COMPILATION_CACHE_DIR=~/.cache/icl-jax "
          "python -m icl.train ...` (set `JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0` "
          "to cache small programs too).", ""]
  else:
    L += ["Cold start: not run in this mode.", ""]
  f = results["flops"]
  L += ["## Achieved FLOP/s", "",
        f"Measured matmul peak ({f['matmul_n']}x{f['matmul_n']} float32 `a @ a` under jit): "
        f"{f['matmul_peak_flop_per_s'] / 1e9:.1f} GFLOP/s.", "",
        "XLA count = `cost_analysis()['flops']` of the compiled single-seed `train_step` "
        "(includes the sampler's integer and float elementwise work and Adam); model count "
        "= analytic forward FLOPs of the reassociated model x3 for the backward "
        "(multiply-add = 2).", "",
        "| H | XLA FLOP/step | model FLOP/step | XLA GFLOP/s | % of peak (XLA) | % of peak (model) |",
        "|---|---|---|---|---|---|"]
  for r in f["rows"]:
    L.append(f"| {r['heads']} | {r['xla_flops_per_step'] / 1e6:.2f} M | "
             f"{r['model_flops_per_step'] / 1e6:.2f} M | {r['xla_flop_per_s'] / 1e9:.2f} | "
             f"{100 * r['fraction_of_peak_xla']:.1f}% | {100 * r['fraction_of_peak_model']:.1f}% |")
  m = results["models"]
  L += ["", "## Larger models (parity / recall tasks)", ""]
  if m.get("status") == "measured":
    L += ["| config | model | steps/s | compile s |", "|---|---|---|---|"]
    for r in m["rows"]:
      if "error" in r:
        L.append(f"| {r['config']} | error: {r['error']} | | |")
      else:
        L.append(f"| {r['config']} | {r['model']} | {_fmt(r['steps_per_s'])} | {_fmt(r['compile_s'], 1)} |")
  else:
    L += [f"pending: {m.get('reason')}"]
  if results.get("analysis"):
    L += ["", "## What bounds the remaining gap", "", results["analysis"]]
  return "\n".join(L) + "\n"


ANALYSIS = """\
- The sampler is most of a step. One batch is 256 x 251 = 64k normals; with JAX's
  threefry each costs a 20-round hash (half a hash in the compact layout the sampler
  uses) plus an erfinv; the sampler draws them in one call (`icl/tasks/regression.py`).
  Compare "The sampler alone" with the ms/step of the default path: what is left is
  the forward+backward+Adam of a 1-10k-FLOP-per-prompt model, i.e. ~100 small XLA
  kernels whose dispatch, not arithmetic, costs the time. Achieved FLOP/s are a small
  fraction of the matmul peak and will stay so at this model size.
- The Python loop with numpy data is close to icl on this CPU: numpy's PCG64 +
  ziggurat normals are about as cheap per batch as threefry, and the jitted step is
  the same. icl's fused path wins by not crossing the host per step (it matters more
  on accelerators and with vmapped seeds) and by being exactly resumable from
  (data_key, step); on a 2-core CPU the bound for both is normal generation.
- Vmapped seeds multiply the sampler's work by S; on 2 cores the per-step work of
  one seed already keeps both cores busy, so prompt-steps/s grow only by the
  amortised per-kernel dispatch (~1.3x), and 6x is out of reach: the bound is the
  per-seed cost of the normals, which no batching removes.
- Compile time is mostly the threefry hash unrolled into each program (the
  partitionable layout compiled 2-3x slower, see the sampler table). A cold start
  pays imports, backend init, the init/chunk/eval compiles and ~2.5k steps; JAX's
  persistent compilation cache (JAX_COMPILATION_CACHE_DIR) removes the compiles on
  every later run.
"""


def run(quick: bool, out_dir: str, steps: int = 0, repeats: int = 0,
        with_torch: bool = True, torch_compile: bool = True,
        with_cold_start: bool = True, notes: str = "") -> dict:
  t_start = time.perf_counter()
  steps = steps or (40 if quick else 1000)
  repeats = repeats or (2 if quick else 5)
  heads = [2] if quick else [1, 2, 8]
  attentions = ["softmax"] if quick else ["softmax", "linear"]
  results = {"quick": quick, "steps": steps, "repeats": repeats, "heads": heads,
             "environment": environment(), "notes": notes}
  results["icl"] = section_icl(heads, attentions, steps, repeats)
  results["baselines"] = section_baselines(heads, steps, repeats, with_torch,
                                           torch_compile and not quick)
  results["seeds"] = section_seeds([1, 4] if quick else [1, 4, 16, 64], steps, repeats)
  results["sampler"] = section_sampler(steps, repeats)
  results["probes"] = section_probes(steps, repeats)
  results["models"] = section_models(steps, repeats)
  results["flops"] = section_flops(results["icl"], quick)
  if not quick:
    results["ttfs"] = section_ttfs()
    if with_cold_start:
      results["cold_start"] = section_cold_start()
  results["headline"] = headline(results)
  results["targets"] = targets(results)
  results["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  results["environment"]["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
  results["wall_s"] = time.perf_counter() - t_start
  results["analysis"] = ANALYSIS
  os.makedirs(out_dir, exist_ok=True)
  with open(os.path.join(out_dir, "results.json"), "w") as f:
    json.dump(results, f, indent=1, default=float)
  with open(os.path.join(out_dir, "RESULTS.md"), "w") as f:
    f.write(render(results))
  return results


def main(argv):
  del argv
  r = run(FLAGS.quick, FLAGS.out, FLAGS.steps, FLAGS.repeats, FLAGS.torch,
          FLAGS.torch_compile, FLAGS.cold_start, FLAGS.notes)
  for a, b, c in r["targets"]:
    print(f"{a}: {b} ({c})")
  print(f"wrote {os.path.join(FLAGS.out, 'RESULTS.md')} in {r['wall_s']:.0f} s")


if __name__ == "__main__":
  app.run(main)
