"""Checkpoints of a work directory: one orbax CheckpointManager, kept in this module.

A checkpoint holds the whole training state of every seed ({"params", "opt_state",
"step"}, each leaf with a leading seed axis) and a small JSON record ("meta": the
step and the number of seeds). Saves are synchronous, so a checkpoint that a
message reports is complete on disk.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import orbax.checkpoint as ocp
from absl import logging


class Checkpointer:
  """Save/restore the multi-seed training state under ``<workdir>/checkpoints``."""

  def __init__(self, workdir: str, keep: int = 3):
    self.directory = os.path.abspath(os.path.join(workdir, "checkpoints"))
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep, create=True, enable_async_checkpointing=False)
    self.manager = ocp.CheckpointManager(self.directory, options=options)

  def steps(self) -> list[int]:
    return sorted(self.manager.all_steps())

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def save(self, step: int, states: Any, meta: dict | None = None) -> None:
    args = ocp.args.Composite(
        state=ocp.args.StandardSave(states),
        meta=ocp.args.JsonSave(dict(meta or {}, step=int(step))))
    self.manager.save(step, args=args, force=True)
    self.manager.wait_until_finished()

  def restore(self, template: Any, step: int | None = None) -> tuple[int, Any]:
    """Restores into the structure of `template` (arrays or ShapeDtypeStructs)."""
    step = self.latest_step() if step is None else step
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
    restored = self.manager.restore(
        step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract)))
    logging.info("Restored checkpoint at step %d from %s", step, self.directory)
    return step, restored["state"]

  def close(self) -> None:
    self.manager.close()
