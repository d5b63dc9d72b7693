"""The work-directory contract that every tool and notebook relies on.

  <workdir>/config.json     the resolved config (JSON of the ConfigDict)
  <workdir>/metrics.jsonl   one JSON object per line; every line has "step", and
                            "train_loss" and/or "eval_loss" (see README, "Metrics")
  <workdir>/checkpoints/    orbax CheckpointManager steps (the last few)
  <workdir>/checkpoints.corrupt/  unreadable checkpoints moved aside on resume
  <workdir>/eval.json       written by `python -m icl.evaluate`
  <workdir>/DONE            written when training reached train.num_steps
  <workdir>/.lock           held (an OS file lock) by the process training the run

With several seeds (train.num_seeds = S > 1), a metric "m" is written as the mean
over seeds, "m/se" its standard error and "m/seeds" the list of per-seed values
(`icl.records`).
"""

from __future__ import annotations

import json
import os
from typing import Any

import ml_collections

from icl import records
from icl.records import jsonable, write_atomic  # noqa: F401  (the work dir's JSON rules)

CONFIG = "config.json"
METRICS = "metrics.jsonl"
EVAL = "eval.json"
DONE = "DONE"


LOCK = ".lock"


class WorkdirError(RuntimeError):
  """A work directory is missing, empty or not an icl run (one-line message)."""


class WorkdirBusy(WorkdirError):
  """Another live process is training in this work directory (one-line message)."""


def _lock_owner(path: str) -> str:
  try:
    with open(path) as f:
      return f.read().strip() or "unknown"
  except OSError:
    return "unknown"


class Lock:
  """An exclusive OS lock (``flock``) on ``<workdir>/.lock`` for the life of a run.

  The kernel releases it when the process exits in any way (a crash, SIGKILL), so a
  lock file left by a dead process is stale by construction and the next run takes
  it; the file's text (pid, host, start time) only names the owner in the error.
  Readers (icl.evaluate, icl.plot) never take it. Use as a context manager.
  """

  def __init__(self, workdir: str):
    self.path = os.path.join(workdir, LOCK)
    self.fd: int | None = None

  def acquire(self) -> "Lock":
    import fcntl
    import socket
    import time
    fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
      os.close(fd)
      raise WorkdirBusy(
          f"work dir {os.path.dirname(self.path)!r} is in use by another run "
          f"({_lock_owner(self.path)}); wait for it, stop it, or use another "
          "--workdir") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}, since "
                 f"{time.strftime('%Y-%m-%d %H:%M:%S')}".encode())
    os.fsync(fd)
    self.fd = fd
    return self

  def release(self) -> None:
    if self.fd is not None:
      import fcntl
      fcntl.flock(self.fd, fcntl.LOCK_UN)
      os.close(self.fd)
      self.fd = None

  def __enter__(self) -> "Lock":
    return self.acquire()

  def __exit__(self, *exc) -> None:
    self.release()


def is_busy(workdir: str) -> bool:
  """True when a live process holds the work dir's lock (checked without taking it
  for longer than the check)."""
  import fcntl
  path = os.path.join(workdir, LOCK)
  try:
    fd = os.open(path, os.O_RDONLY)  # never creates or writes: a reader's check
  except OSError:
    return False
  try:
    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
  except OSError:
    return True
  finally:
    os.close(fd)  # closing releases a lock we took
  return False


def write_config(workdir: str, config) -> None:
  """config.json from a ConfigDict or a plain nested dict (`Spec.source`)."""
  tree = config.to_dict() if hasattr(config, "to_dict") else config
  write_atomic(os.path.join(workdir, CONFIG), json.dumps(tree, indent=2, sort_keys=True))


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


def metrics_writer(workdir: str, resume_step: int = 0) -> records.Writer:
  """The run's writer: metrics.jsonl (past `resume_step` dropped) and, with the
  optional tensorboardX, TensorBoard events in <workdir>/tensorboard/."""
  return records.Writer(os.path.join(workdir, METRICS), resume_step,
                        os.path.join(workdir, records.TENSORBOARD))


def read_metrics(workdir: str, missing_ok: bool = False) -> list[dict]:
  """All records of metrics.jsonl (a torn last line is skipped)."""
  path = os.path.join(workdir, METRICS)
  if not os.path.exists(path):
    if missing_ok:
      return []
    raise WorkdirError(f"work dir {workdir!r} has no {METRICS}")
  return records.read_jsonl(path)
