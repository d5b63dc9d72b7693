"""The trainer's probe bookkeeping: which chunks carry probes or snapshots, and
the metrics.jsonl lines and snapshot files they produce (config.probes).

The probes themselves are pure functions in `icl.probes.recording`; this module is
the host side of the loop: per chunk, the keyword arguments of `core.train_chunk`,
then the probe records (`probe/<name>/<layer>h<head>` keys through `icl.records`,
per in-program sweep point when there is one) and `<workdir>/snapshots/*.npz`.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from icl import records
from icl.probes import recording, schedule, snapshots
from icl.train import sharding

PyTree = Any


def _host(tree: PyTree) -> PyTree:
  """Every leaf as one numpy array on every process (multi-host: gathered)."""
  return jax.tree.map(sharding.to_host, tree)


def _write_snapshot(workdir: str, step: int, arrays: dict) -> None:
  if sharding.is_primary():  # process 0 writes the work dir
    snapshots.write_snapshot(workdir, step, arrays)


class Recorder:
  """Probe and snapshot cadence of one run (`spec.probes`)."""

  def __init__(self, ctx: recording.ProbeContext, spec, workdir: str):
    self.ctx, self.workdir, self.axis = ctx, workdir, spec.sweep
    self.every = spec.probes.every
    count = spec.probes.snapshots if self.every else 0
    self.snapshots = set(schedule.snapshot_steps(spec.train.num_steps, count))
    self.num_steps = spec.train.num_steps
    # Snapshot slots of every chunk: the most snapshot steps any chunk of
    # train.log_every steps holds (chunks start at multiples of it), so the run's
    # chunks share one program.
    self.slots = schedule.max_per_window(self.snapshots, spec.train.log_every)

  def summarize(self, probes: dict) -> dict:
    return records.summarize_probes(probes, self.axis.labels, self.axis.num_seeds)

  def chunk_args(self, step: int, n: int) -> dict:
    """{'probe_every': ..., 'snap_offsets': ...} for the chunk of n steps after
    `step` (offsets 1..n of its snapshot steps, -1 padded to `slots`; None in a
    run without snapshots)."""
    args = {"probe_every": schedule.probe_interval(step, n, self.every),
            "snap_offsets": None}
    if self.slots:
      offsets = sorted(s - step for s in self.snapshots if step < s <= step + n)
      slots = max(self.slots, len(offsets))  # a chunk off the log_every grid
      args["snap_offsets"] = np.array(offsets + [-1] * (slots - len(offsets)), np.int32)
    return args

  def start(self, step: int, states: PyTree) -> None:
    """Snapshot of the initial weights (step 0)."""
    if step == 0 and 0 in self.snapshots:
      arrays = recording.snapshot_states(self.ctx, states["params"])
      _write_snapshot(self.workdir, 0, _host(arrays))

  def records(self, step: int, n: int, args: dict, metrics: dict,
              states: PyTree) -> list[dict]:
    """Probe lines of the chunk (step, step + n] (each {'step': s, 'probe/...': ...})
    and its snapshot files. A run's last step always gets probes."""
    end, out = step + n, []
    every = args["probe_every"]
    if every:
      probes = _host(metrics["probes"])  # [M, K, ...]
      for k in range(n // every):
        out.append({"step": step + (k + 1) * every,
                    **self.summarize({name: v[:, k] for name, v in probes.items()})})
    if end == self.num_steps and self.every and not (out and out[-1]["step"] == end):
      probes = _host(recording.compute_states(self.ctx, states["params"]))
      out.append({"step": end, **self.summarize(probes)})
    offsets = args["snap_offsets"]
    if offsets is not None and (offsets > 0).any():
      snap = _host(metrics["snapshot"])  # [M, S, ...]: slot j after step offsets[j]
      for j, offset in enumerate(offsets):
        if offset > 0:
          _write_snapshot(self.workdir, step + int(offset), {k: v[:, j] for k, v in snap.items()})
    return out
