"""The timing loop shared by the small benchmark scripts."""

from __future__ import annotations

import time

import jax

from icl.train import core


def time_chunks(exp, states, data_keys, steps: int, repeats: int) -> tuple[float, float]:
  """(first call s, best of `repeats` s) of `core.train_chunk` over `steps` steps;
  the first call includes compilation."""
  t0 = time.perf_counter()
  states, metrics = core.train_chunk(exp, states, data_keys, steps)
  jax.block_until_ready(metrics)
  first = time.perf_counter() - t0
  best = float("inf")
  for _ in range(repeats):
    t0 = time.perf_counter()
    states, metrics = core.train_chunk(exp, states, data_keys, steps)
    jax.block_until_ready(metrics)
    best = min(best, time.perf_counter() - t0)
  return first, best
