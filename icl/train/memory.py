"""Memory checked before compile: a run whose arrays cannot fit is refused.

The bound is a sure one, not an estimate of the peak: the training step's largest
single array (from the traced program of one model's step, sampling included, and
of one evaluation chunk), times the models each device holds. XLA's peak is at
least that, so a refusal is never wrong; runs that pass may still be tight. The
available memory is the device's free memory (``memory_stats``) on accelerators
and the host's MemAvailable on CPU.
"""

from __future__ import annotations

import math
import os

import jax
import numpy as np

from icl import config_lib
from icl.train import sharding

# Config fields whose values name an array's dimensions in the error message.
SIZE_FIELDS = ("train.batch_size", "eval.batch_size", "task.context_len", "task.seq_len",
               "task.vocab_size", "task.dim", "task.num_bits", "model.d_model",
               "model.num_heads", "train.num_seeds")


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


def largest_array(fn, *args) -> tuple[int, tuple, str]:
  """(bytes, shape, dtype) of the largest array `fn(*args)` computes (traced only)."""
  best = (0, (), "")
  for aval in _avals(jax.make_jaxpr(fn)(*args).jaxpr):
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


def check(exp, spec: config_lib.Spec) -> None:
  """Raises OutOfMemory when the step's largest array cannot fit (module doc)."""
  free = available_bytes()
  if free is None:
    return
  key = jax.random.key(0)
  state = jax.eval_shape(exp.init_state, key)
  params = state["params"]
  eval_batch = min(spec.eval.batch_size, spec.eval.num_prompts)
  cases = [("training step", largest_array(exp.train_step, state, key)),
           ("evaluation chunk",
            largest_array(lambda p, k: exp.eval_loss(p, k, eval_batch, eval_batch),
                          params, key))]
  per_device = max(1, -(-spec.num_models // sharding.shard_count(spec.num_models)))
  for what, (size, shape, dtype) in cases:
    need = size * per_device
    if need > free:
      dims = set(shape) | {d - 1 for d in shape} | {d + 1 for d in shape}
      flat = spec.flat()
      named = [f"{k}={flat[k]}" for k in SIZE_FIELDS
               if isinstance(flat.get(k), int) and flat[k] in dims and flat[k] >= 32]
      models = f" x {per_device} models" if per_device > 1 else ""
      raise OutOfMemory(
          f"the {what} needs at least {_gb(need)} for one array {list(shape)} "
          f"({dtype}){models}, more than the {_gb(free)} free on "
          f"{jax.devices()[0].platform}; reduce {', '.join(named) or 'the sizes'}")
