"""Memory checked before compile: a run whose arrays cannot fit is refused.

The bound is a sure one, not an estimate of the peak: the largest single array of
the training and evaluation programs, per device. Two checks, both before anything
large is allocated or compiled:

- `check_state`, before the models are initialised: the largest leaf of one model's
  training state (from the traced init the trainer then compiles), times the models
  each device holds;
- `check_programs`, on the traced programs the trainer is about to compile (the
  first chunk of steps, sampling included, and the evaluation: the draw of its
  prompts and the forward on them when the trainer keeps them; jit reuses those
  traces, so the check costs a walk over their equations): each program's largest
  array, divided by the devices the program is spread over (its models', or a
  one-model program's batch's: a split array is at least that big on each device,
  a replicated one bigger); CPU devices share the host's memory, so there the
  whole array counts, and every model's state.

XLA's peak is at least that, so a refusal is never wrong; runs that pass may still
be tight. The available memory is the device's free memory (``memory_stats``) on
accelerators and the host's MemAvailable on CPU.
"""

from __future__ import annotations

import math
import os

import jax
import numpy as np

from icl import config_lib
from icl.train import sharding

# Config fields whose values name an array's dimensions in the error message.
SIZE_FIELDS = ("train.batch_size", "eval.batch_size", "probes.num_prompts",
               "task.context_len", "task.seq_len", "task.vocab_size", "task.dim",
               "task.num_bits", "model.d_model", "model.num_heads", "train.num_seeds")


class OutOfMemory(config_lib.ConfigError):
  """The run's arrays cannot fit on the device (one-line message)."""


def _avals(jaxpr):
  for eqn in jaxpr.eqns:
    for var in eqn.outvars:
      yield var.aval
    for param in eqn.params.values():
      for sub in param if isinstance(param, (list, tuple)) else (param,):
        inner = getattr(sub, "jaxpr", sub)
        if hasattr(inner, "eqns"):
          yield from _avals(inner)


def largest_in(jaxpr) -> tuple[int, tuple, str]:
  """(bytes, shape, dtype) of the largest array a jaxpr (or ClosedJaxpr) computes,
  nested programs (scan, cond, pjit bodies) included."""
  best = (0, (), "")
  for aval in _avals(getattr(jaxpr, "jaxpr", jaxpr)):
    shape = getattr(aval, "shape", None)
    if shape is None:
      continue
    try:
      itemsize = np.dtype(aval.dtype).itemsize
    except TypeError:  # PRNG key arrays
      continue
    size = math.prod(shape) * itemsize
    if size > best[0]:
      best = (size, tuple(shape), str(aval.dtype))
  return best


def largest_array(fn, *args) -> tuple[int, tuple, str]:
  """(bytes, shape, dtype) of the largest array `fn(*args)` computes (traced only)."""
  return largest_in(jax.make_jaxpr(fn)(*args))


def available_bytes() -> int | None:
  """Free memory of the first device (None when unknown)."""
  device = jax.devices()[0]
  try:
    stats = device.memory_stats()
  except Exception:  # noqa: BLE001 - backends without memory_stats
    stats = None
  if stats and "bytes_limit" in stats:
    return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
  try:
    with open("/proc/meminfo") as f:
      for line in f:
        if line.startswith("MemAvailable:"):
          return int(line.split()[1]) * 1024
  except OSError:
    pass
  try:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
  except (ValueError, OSError):
    return None


def _gb(n: float) -> str:
  return f"{n / 1e9:.3g} GB"


def _refuse_if_over(spec: config_lib.Spec, what: str, need: int, shape: tuple,
                    dtype: str, free: int, models: str = "") -> None:
  """OutOfMemory naming the size fields among the array's dimensions (and the seeds
  when the need counts several models per device)."""
  if need <= free:
    return
  dims = set(shape) | {d - 1 for d in shape} | {d + 1 for d in shape}
  flat = spec.flat()
  named = [f"{k}={flat[k]}" for k in SIZE_FIELDS
           if isinstance(flat.get(k), int) and flat[k] >= 32
           and (flat[k] in dims or (k == "train.num_seeds" and models))]
  raise OutOfMemory(
      f"the {what} needs at least {_gb(need)} for one array {list(shape)} "
      f"({dtype}){models}, more than the {_gb(free)} free on "
      f"{jax.devices()[0].platform}; reduce {', '.join(named) or 'the sizes'}")


def _shared_memory() -> bool:
  """Whether the devices share one memory (CPU devices: the host's)."""
  return jax.devices()[0].platform == "cpu"


def nbytes(x) -> int:
  """Bytes of an array or a ShapeDtypeStruct (0 for PRNG keys)."""
  try:
    return math.prod(x.shape) * np.dtype(x.dtype).itemsize
  except TypeError:  # PRNG key arrays
    return 0


def check_state(exp, spec: config_lib.Spec, states=None) -> None:
  """Raises OutOfMemory when the models' training states cannot fit (their largest
  leaf, per device): before anything is initialised. `states`: the shapes of every
  model's state ([M, ...] leaves: the traced init's `out_info`, which the trainer
  then compiles), else one model's state is traced here."""
  free = available_bytes()
  if free is None:
    return
  m = spec.num_models
  if states is None:
    one = jax.eval_shape(exp.init_state, jax.random.key(0))
  else:  # one model's leaves: drop the model axis
    one = [jax.ShapeDtypeStruct(x.shape[1:], x.dtype) for x in jax.tree.leaves(states)]
  # CPU devices share the host's memory: every model counts
  per_device = m if _shared_memory() else -(-m // sharding.shard_count(m))
  size, shape, dtype = max(((nbytes(x), tuple(x.shape), str(x.dtype))
                            for x in jax.tree.leaves(one)), default=(0, (), ""))
  _refuse_if_over(spec, "training state", size * per_device, shape, dtype, free,
                  f" x {per_device} models" if per_device > 1 else "")


def room_for_copy(tree, margin: int = 8) -> bool:
  """Whether `margin` more copies of `tree`'s arrays (or shapes) fit in the free
  memory: the trainer's rule for what it may hold beside the run (a device copy of
  the state to checkpoint, the kept evaluation prompts)."""
  free = available_bytes()
  need = sum(nbytes(x) for x in jax.tree.leaves(tree))  # arrays or shapes
  return free is not None and margin * need <= free


def check_programs(spec: config_lib.Spec, programs: dict) -> None:
  """Raises OutOfMemory when a program's largest array cannot fit on a device.
  `programs`: {what: jaxpr} of the whole programs (every model's axis included),
  checked in order."""
  free = available_bytes()
  if free is None:
    return
  # The need per device is at least size / (devices the program is split over);
  # CPU devices share the host's memory: there the whole array counts.
  shards = 1 if _shared_memory() else sharding.spread(spec)
  for what, jaxpr in programs.items():
    size, shape, dtype = largest_in(jaxpr)
    split = f" split over {shards} devices" if shards > 1 else ""
    _refuse_if_over(spec, what, -(-size // shards), shape, dtype, free, split)
