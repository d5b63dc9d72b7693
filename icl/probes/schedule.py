"""When probes and weight snapshots are taken (pure cadence arithmetic)."""

from __future__ import annotations

import numpy as np


def snapshot_steps(num_steps: int, count: int) -> list[int]:
  """About `count` log-spaced steps in [0, num_steps], always with 0 and num_steps."""
  if count <= 0:
    return []
  if count == 1:
    return [num_steps]
  steps = np.round(np.logspace(0, np.log10(num_steps), count - 1)).astype(int)
  return sorted({0, num_steps, *steps.tolist()})


def max_per_window(steps, window: int) -> int:
  """The most of `steps` in one window (k·window, (k + 1)·window] (0 when empty)."""
  counts: dict[int, int] = {}
  for s in steps:
    if s > 0:
      counts[(s - 1) // window] = counts.get((s - 1) // window, 0) + 1
  return max(counts.values(), default=0)


def probe_interval(step: int, n: int, every: int) -> int:
  """The in-scan probe interval of the chunk of `n` steps after `step` such that the
  probes fall on the multiples of `every` (0: no probe step in the chunk)."""
  if every <= 0:
    return 0
  if every <= n and step % every == 0 and n % every == 0:
    return every
  if n <= every and (step + n) % every == 0:
    return n
  return 0
