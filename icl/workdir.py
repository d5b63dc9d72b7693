"""The work-directory contract that every tool and notebook relies on.

  <workdir>/config.json     the resolved config (JSON of the ConfigDict)
  <workdir>/metrics.jsonl   one JSON object per line; every line has "step", and
                            "train_loss" and/or "eval_loss" (see README, "Metrics")
  <workdir>/checkpoints/    orbax CheckpointManager steps (the last few)
  <workdir>/checkpoints.corrupt/  unreadable checkpoints moved aside on resume
  <workdir>/eval.json       written by `python -m icl.evaluate`
  <workdir>/DONE            written when training reached train.num_steps

With several seeds (train.num_seeds = S > 1), a metric "m" is written as the mean
over seeds, "m/se" its standard error and "m/seeds" the list of per-seed values.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any, Iterable

import ml_collections
import numpy as np

CONFIG = "config.json"
METRICS = "metrics.jsonl"
EVAL = "eval.json"
DONE = "DONE"


class WorkdirError(RuntimeError):
  """A work directory is missing, empty or not an icl run (one-line message)."""


def jsonable(value: Any) -> Any:
  """Arrays to lists; NaN and infinities to null (our JSON files are strict JSON)."""
  if isinstance(value, dict):
    return {k: jsonable(v) for k, v in value.items()}
  if isinstance(value, (np.ndarray, np.generic)) or hasattr(value, "__array__"):
    value = np.asarray(value)
    value = value.item() if value.ndim == 0 else value.tolist()
  if isinstance(value, float) and not math.isfinite(value):
    return None
  if isinstance(value, (list, tuple)):
    return [jsonable(v) for v in value]
  return value


def write_atomic(path: str, text: str) -> None:
  """Writes `text` to `path` through a temporary file and a rename, so that a
  kill at any moment leaves either the old file or the new one."""
  tmp = f"{path}.tmp{os.getpid()}"
  with open(tmp, "w") as f:
    f.write(text)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)


def write_config(workdir: str, config: ml_collections.ConfigDict) -> None:
  write_atomic(os.path.join(workdir, CONFIG), config.to_json(indent=2, sort_keys=True))


def read_config(workdir: str) -> ml_collections.ConfigDict:
  """The config of an existing run, or a one-line WorkdirError."""
  path = os.path.join(workdir, CONFIG)
  if not os.path.isdir(workdir):
    raise WorkdirError(f"work dir {workdir!r} does not exist")
  if not os.path.exists(path):
    raise WorkdirError(
        f"work dir {workdir!r} has no {CONFIG}: not an icl run (train into it with "
        "python -m icl.train --workdir=...)")
  try:
    with open(path) as f:
      stored = json.load(f)
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise WorkdirError(f"{path} is not valid JSON ({e})") from None
  missing = [k for k in ("task", "model", "train", "eval")
             if not isinstance(stored, dict) or not isinstance(stored.get(k), dict)]
  if missing:
    raise WorkdirError(f"{path} is not an icl config (no {', '.join(missing)} "
                       "section): not an icl run")
  return ml_collections.ConfigDict(stored)


def flatten(config, prefix: str = "") -> dict[str, Any]:
  """{'train.lr': 1e-3, ...} from a nested ConfigDict or dict."""
  items = config.items() if hasattr(config, "items") else config
  out = {}
  for key, value in items:
    name = f"{prefix}{key}"
    if hasattr(value, "items"):
      out.update(flatten(value, name + "."))
    else:
      out[name] = value
  return out


def summarize_seeds(name: str, values: np.ndarray) -> dict[str, Any]:
  """One metric over seeds -> {name: mean} (+ '/se' and '/seeds' when S > 1)."""
  values = np.asarray(values, dtype=np.float64).reshape(-1)
  if values.size == 1:
    return {name: float(values[0])}
  se = float(values.std(ddof=1) / math.sqrt(values.size))
  return {name: float(values.mean()), f"{name}/se": se,
          f"{name}/seeds": [float(v) for v in values]}


class MetricsWriter:
  """Appends JSON lines to metrics.jsonl; on resume, drops lines past the restored
  step so that the history has no duplicated or missing steps."""

  def __init__(self, workdir: str, resume_step: int = 0):
    self.path = os.path.join(workdir, METRICS)
    kept = [r for r in read_metrics(workdir, missing_ok=True)
            if r["step"] <= resume_step]
    write_atomic(self.path, "".join(json.dumps(r) + "\n" for r in kept))

  def write(self, records: Iterable[dict]) -> None:
    with open(self.path, "a") as f:
      for record in records:
        f.write(json.dumps(jsonable(record)) + "\n")
      f.flush()
      os.fsync(f.fileno())


def read_metrics(workdir: str, missing_ok: bool = False) -> list[dict]:
  """All records of metrics.jsonl (a torn last line is skipped)."""
  path = os.path.join(workdir, METRICS)
  if not os.path.exists(path):
    if missing_ok:
      return []
    raise WorkdirError(f"work dir {workdir!r} has no {METRICS}")
  records = []
  with open(path) as f:
    for line in f:
      try:
        record = json.loads(line)
      except json.JSONDecodeError:
        continue
      if isinstance(record, dict) and "step" in record:
        records.append(record)
  return records
