"""Weight snapshots on disk: <workdir>/snapshots/step_XXXXXXX.npz.

Each file holds the merged W_KQ / W_OV of every model at one step ({'W_KQ':
[M, H, D, D], 'W_OV': [M, H, D]} for one layer, 'l0/W_KQ', ... for several), written
at the log-spaced steps of `icl.probes.schedule.snapshot_steps`.
"""

from __future__ import annotations

import os

import numpy as np

SNAPSHOTS = "snapshots"


def write_snapshot(workdir: str, step: int, arrays: dict[str, np.ndarray]) -> str:
  directory = os.path.join(workdir, SNAPSHOTS)
  os.makedirs(directory, exist_ok=True)
  path = os.path.join(directory, f"step_{step:07d}.npz")
  np.savez(path, step=np.int64(step), **{k: np.asarray(v) for k, v in arrays.items()})
  return path


def read_snapshots(workdir: str) -> list[tuple[int, dict[str, np.ndarray]]]:
  """[(step, {'W_KQ': [S, H, D, D], 'W_OV': [S, H, D]}), ...] sorted by step."""
  directory = os.path.join(workdir, SNAPSHOTS)
  if not os.path.isdir(directory):
    return []
  out = []
  for name in sorted(os.listdir(directory)):
    if name.startswith("step_") and name.endswith(".npz"):
      with np.load(os.path.join(directory, name)) as f:
        arrays = {k: f[k] for k in f.files if k != "step"}
      out.append((int(name[5:-4]), arrays))
  return out
