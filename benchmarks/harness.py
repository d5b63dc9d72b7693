"""The measuring harness every benchmark shares: interleaved timing and the cases.

A case is an object with a `block()` method that runs a fixed amount of work and
returns once it is done (device work included). `interleaved` times the blocks of
several cases round-robin and keeps each case's best: on a shared machine only
ratios measured this way are meaningful. The cases:

- `IclCase`: the default training path, `core.train_chunk` on S vmapped seeds (as
  the trainer calls it, optionally with probes recorded inside the scan);
- `PythonLoopCase`: the same step jitted alone, driven from a Python loop on host
  numpy batches;
- `TorchCase`: the PyTorch eager (or torch.compile) re-implementation in
  `benchmarks/torch_reference.py`.

`environment()` describes the machine the numbers were measured on.
"""

from __future__ import annotations

import datetime
import importlib
import math
import os
import platform
import time
from collections.abc import Callable, Hashable

import jax
import jax.numpy as jnp
import numpy as np

from configs.regression import get_config
from icl.train import core, sharding

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BLOCK_SECONDS = 1.0  # the slow baselines' blocks are cut to about this long


def interleaved(cases: dict[Hashable, Callable[[], None]],
                repeats: int) -> dict[Hashable, float]:
  """Best wall time (s) of each case's block over `repeats` rounds.

  Cases are interleaved within a round so that load changes hit all of them alike.
  """
  best = {name: float("inf") for name in cases}
  for _ in range(repeats):
    for name, block in cases.items():
      t0 = time.perf_counter()
      block()
      best[name] = min(best[name], time.perf_counter() - t0)
  return best


def config_for(heads: int = 2, attention: str = "softmax", seeds: int = 1,
               batch_size: int | None = None):
  """The paper's regression config with H, attention, S (and batch) set."""
  c = get_config()
  c.model.num_heads = heads
  c.model.attention = attention
  c.train.num_seeds = seeds
  if batch_size is not None:
    c.train.batch_size = batch_size
  return c


class IclCase:
  """The default training path: core.train_chunk on S vmapped seeds.

  Attributes set on construction: `init_s` (build + init), `first_s` (the first
  block: compile + one block).
  """

  def __init__(self, config, steps: int, probe_every: int = 0,
               snap_offsets: tuple[int, ...] = ()):
    t0 = time.perf_counter()
    self.config, self.steps = config, steps
    # Only what the trainer passes for a chunk without probes is passed here.
    self.kwargs = {}
    if probe_every:
      self.kwargs["probe_every"] = probe_every
    if snap_offsets:  # snapshots after these steps of the chunk (1-based)
      self.kwargs["snap_offsets"] = np.asarray(snap_offsets, np.int32)
    self.exp = core.Experiment.from_config(config)
    init_keys, self.data_keys = sharding.put_models(core.seed_keys(config), self.exp.spec)
    self.states = core.init_states(self.exp, init_keys)
    jax.block_until_ready(self.states)
    self.init_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    self.block()
    self.first_s = time.perf_counter() - t0

  def block(self) -> None:
    self.states, metrics = core.train_chunk(self.exp, self.states, self.data_keys,
                                            self.steps, **self.kwargs)
    jax.block_until_ready(metrics)

  def memory(self) -> dict:
    """XLA's compiled memory analysis of the chunk (bytes)."""
    compiled = core.train_chunk.lower(self.exp, self.states, self.data_keys,
                                      self.steps, **self.kwargs).compile()
    m = compiled.memory_analysis()
    out = {k: int(getattr(m, k + "_in_bytes", 0)) for k in
           ("argument_size", "output_size", "temp_size", "generated_code_size")}
    out["total"] = out["argument_size"] + out["output_size"] + out["temp_size"]
    return out


_ICL_CASES: dict = {}
_NAMED_CASES: dict = {}


def named_case(name: str, config, steps: int) -> IclCase:
  """One compiled case per (name, config, steps), shared by the sections that time
  the same config's chunk (the token models, MQAR's peers, the transformer's
  backward): one compile."""
  key = (name, str(config), steps)
  if key not in _NAMED_CASES:
    _NAMED_CASES[key] = IclCase(config, steps)
  return _NAMED_CASES[key]


def drop_cases() -> None:
  """Forgets the shared cases (their Experiments and, with them, their programs):
  after a run, so that a process that calls `run.run` (a test) keeps none."""
  _ICL_CASES.clear()
  _NAMED_CASES.clear()


def icl_case(heads: int, attention: str = "softmax", seeds: int = 1,
             steps: int = 100) -> IclCase:
  """One compiled case per (heads, attention, seeds, steps), shared by sections."""
  key = (heads, attention, seeds, steps)
  if key not in _ICL_CASES:
    _ICL_CASES[key] = IclCase(config_for(heads, attention, seeds), steps)
  return _ICL_CASES[key]


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
  """The PyTorch re-implementation's training loop on `threads` CPU threads.

  Blocks are cut to about BLOCK_SECONDS: a slow configuration (e.g. OpenMP threads
  spinning on a busy machine) must not take the whole run; `steps` is the block
  length actually used.
  """

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


def subprocess_env(**extra: str) -> dict:
  """This process's environment with the repository first on PYTHONPATH (for the
  sections that time `python -m ...` processes), plus `extra`."""
  path = os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))
  return dict(os.environ, PYTHONPATH=path, **extra)


def environment() -> dict:
  """Date, CPU, JAX device, library versions, load average, XLA_FLAGS."""
  cpu = platform.processor() or ""
  try:
    with open("/proc/cpuinfo") as f:
      cpu = next((line.split(":", 1)[1].strip() for line in f
                  if line.startswith("model name")), cpu)
  except OSError:
    pass
  versions = {"python": platform.python_version(), "jax": jax.__version__,
              "jaxlib": importlib.import_module("jaxlib").__version__}
  for mod in ("flax", "optax", "numpy", "torch"):
    try:
      versions[mod] = importlib.import_module(mod).__version__
    except ImportError:
      versions[mod] = "not installed"
  return {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
          "machine": f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}",
          "device": str(jax.devices()[0]), "versions": versions,
          "load_avg_start": load_average(), "xla_flags": os.environ.get("XLA_FLAGS", "")}


def load_average() -> list[float]:
  """The 1, 5 and 15 minute load averages, rounded (NaN where unavailable)."""
  try:
    return [round(x, 2) for x in os.getloadavg()]
  except OSError:
    return [float("nan")] * 3
