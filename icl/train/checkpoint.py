"""Checkpoints of a work directory: one orbax CheckpointManager, kept in this module.

A checkpoint holds the whole training state of every seed ({"params", "opt_state",
"step"}, each leaf with a leading seed axis) and a small JSON record ("meta": the
step, the number of seeds and a CRC32 of the state's bytes). Saves are
asynchronous: `save` returns once the state is copied to host memory (the training
loop may then overwrite or donate the device arrays) and orbax writes the files in
a background thread, behind a temporary name that becomes the step's directory only
when complete. The next save, `latest_step`, `steps` and `close` wait for it, so a
checkpoint that a message names is complete on disk.

On restore without an explicit step, a checkpoint that cannot be read or whose
checksum does not match (a torn or corrupted write) is moved aside to
``<workdir>/checkpoints.corrupt/<step>`` with a warning, and the previous one is
tried (docs/reliability.md).

orbax is imported, and the manager made, on first use: a new run's first save
(0.12 s of imports, taken while a training chunk computes, instead of at start-up;
a new work dir has no step to look up).
"""

from __future__ import annotations

import os
import zlib
from typing import Any, Callable

import jax
import numpy as np
from absl import logging

from icl import workdir as workdir_lib
from icl.train import sharding


def _ocp():
  """orbax.checkpoint (imported on first use)."""
  import orbax.checkpoint as ocp  # pylint: disable=import-outside-toplevel
  return ocp


class CheckpointError(workdir_lib.WorkdirError):
  """No readable checkpoint where one is needed (one-line message)."""


def checksum(states: Any) -> str:
  """CRC32 over the bytes of every leaf, in tree order (hex)."""
  crc = 0
  for leaf in jax.tree.leaves(states):
    crc = zlib.crc32(np.ascontiguousarray(sharding.to_host(leaf)).tobytes(), crc)
  return f"{crc:08x}"


def log_steps(num_steps: int, log_every: int, count: int) -> list[int]:
  """`count` log-spaced checkpoint steps from `log_every` to `num_steps`, each rounded
  up to a chunk end (a multiple of `log_every`, or `num_steps`); fewer when rounding
  merges two. Always ends at `num_steps`."""
  if count <= 1 or num_steps <= log_every:
    return [num_steps]
  raw = np.geomspace(log_every, num_steps, count)
  steps = {min(num_steps, int(-(-round(float(s), 6) // log_every)) * log_every)
           for s in raw}
  return sorted(steps | {num_steps})


def is_checkpoint_step(step: int, train) -> bool:
  """Whether the trainer saves after the chunk ending at `step` (train: TrainSpec)."""
  if step == train.num_steps:
    return True
  if train.ckpt_schedule == "log":
    return step in log_steps(train.num_steps, train.log_every, train.keep_ckpts)
  return step % train.ckpt_every == 0


class Checkpointer:
  """Save/restore the multi-seed training state under ``<workdir>/checkpoints``."""

  def __init__(self, workdir: str, keep: int = 3, read_only: bool = False):
    """`read_only`: a reader next to a live run (icl.evaluate): creates nothing and
    never moves an unreadable checkpoint aside (it may be one being written)."""
    self.directory = os.path.abspath(os.path.join(workdir, "checkpoints"))
    self.read_only, self.keep = read_only, keep
    self._manager = None

  @property
  def manager(self):
    """The orbax CheckpointManager (made on first use)."""
    if self._manager is None:
      ocp = _ocp()
      options = ocp.CheckpointManagerOptions(
          max_to_keep=self.keep, create=not self.read_only,
          enable_async_checkpointing=not self.read_only, read_only=self.read_only)
      self._manager = self._listing(
          lambda: ocp.CheckpointManager(self.directory, options=options))
    return self._manager

  def _empty(self) -> bool:
    """Whether there is nothing to look up yet: no manager and no checkpoint dir, or
    an empty one (a new run)."""
    return self._manager is None and not (os.path.isdir(self.directory)
                                          and os.listdir(self.directory))

  def _listing(self, read: Callable[[], Any], attempts: int = 20) -> Any:
    """`read()` of the step directories; a reader next to a live run retries when a
    step vanishes under it (the trainer deletes old steps, train.keep_ckpts, while
    orbax lists them: FileNotFoundError), with a fresh listing each time."""
    for attempt in range(attempts):
      try:
        return read()
      except FileNotFoundError:
        if not self.read_only or attempt == attempts - 1:
          raise
        if self._manager is not None:
          self._manager.reload()
    raise AssertionError("unreachable")

  def wait(self) -> None:
    """Blocks until the save in flight (if any) is on disk."""
    if not self.read_only and self._manager is not None:
      self._manager.wait_until_finished()

  def steps(self) -> list[int]:
    if self._empty():
      return []
    self.wait()
    return sorted(self._listing(self.manager.all_steps))

  def latest_step(self) -> int | None:
    if self._empty():
      return None
    self.wait()
    return self._listing(self.manager.latest_step)

  def save(self, step: int, states: Any, meta: dict | None = None) -> None:
    ocp = _ocp()
    args = ocp.args.Composite(
        state=ocp.args.StandardSave(states),
        meta=ocp.args.JsonSave(dict(meta or {}, step=int(step),
                                    checksum=checksum(states))))
    self.manager.save(step, args=args, force=True)  # returns after the host copy

  def restore(self, template: Any, step: int | None = None) -> tuple[int, Any]:
    """Restores into the structure of `template` (arrays or ShapeDtypeStructs).

    `step=None`: the latest readable checkpoint, falling back past corrupt ones.
    """
    abstract = jax.tree.map(_ocp().utils.to_shape_dtype_struct, template)
    if self.read_only and step is None:
      return self._restore_latest_live(abstract)
    candidates = [step] if step is not None else sorted(self.steps(), reverse=True)
    for i, candidate in enumerate(candidates):
      try:
        state = self._restore_verified(candidate, abstract)
      except Exception as e:  # noqa: BLE001 - any read failure means "corrupt"
        reason = " ".join(f"{type(e).__name__}: {e}".split())[:300]
        if step is not None:
          raise CheckpointError(f"checkpoint at step {step} in {self.directory} is "
                                f"unreadable ({reason})") from None
        after = candidates[i + 1] if i + 1 < len(candidates) else None
        logging.warning(
            "Checkpoint at step %d in %s is unreadable or corrupt (%s); %s",
            candidate, self.directory, reason,
            f"falling back to step {after}" if after is not None
            else "no earlier checkpoint")
        if not self.read_only:
          self._move_aside(candidate)
        continue
      logging.info("Restored checkpoint at step %d from %s", candidate, self.directory)
      return candidate, state
    raise CheckpointError(
        f"no readable checkpoint in {self.directory} (corrupt ones were moved to "
        f"{self.directory}.corrupt); delete the work dir or use another --workdir "
        "to start from step 0")

  def _restore_latest_live(self, abstract: Any, attempts: int = 20) -> tuple[int, Any]:
    """The newest checkpoint of a run that may be training right now: the trainer
    deletes old steps (train.keep_ckpts) while we read, so a step that vanished is
    retried with the newest one on disk; nothing is moved aside."""
    error = None
    for _ in range(attempts):
      try:
        self.manager.reload()
        latest = self.manager.latest_step()
        if latest is None:
          break
        return latest, self._restore_verified(latest, abstract)
      except Exception as e:  # noqa: BLE001 - deleted under us or being written
        error = " ".join(f"{type(e).__name__}: {e}".split())[:300]
    raise CheckpointError(f"no readable checkpoint in {self.directory}"
                          + (f" ({error})" if error else ""))

  def _restore_verified(self, step: int, abstract: Any) -> Any:
    ocp = _ocp()
    restored = self.manager.restore(
        step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract),
                                      meta=ocp.args.JsonRestore()))
    state, meta = restored["state"], restored["meta"] or {}
    expected = meta.get("checksum")
    if expected is not None and checksum(state) != expected:
      raise ValueError(f"checksum {checksum(state)} != saved {expected}")
    return state

  def _move_aside(self, step: int) -> None:
    """Moves a corrupt step out of the manager's view, so that a later save of the
    same step can happen; kept (not deleted) for inspection."""
    source = os.path.join(self.directory, str(step))
    target = os.path.join(self.directory + ".corrupt", str(step))
    try:
      os.makedirs(os.path.dirname(target), exist_ok=True)
      if os.path.exists(target):
        import shutil
        shutil.rmtree(target)
      os.replace(source, target)
      logging.warning("Moved the corrupt checkpoint to %s", target)
    except OSError as e:
      logging.warning("Could not move %s aside (%s)", source, e.strerror)
    self.manager.reload()

  def close(self) -> None:
    """Waits for the save in flight, then releases the manager."""
    if self._manager is not None:
      self.wait()
      self._manager.close()
