"""Synthetic in-context tasks, one file each, looked up by name in `TASKS`.

A task is a frozen dataclass whose fields are exactly the fields of
``config.task`` (minus ``name``); it has ``sample(key, batch_size) -> batch`` (a
dict of arrays, generated on device) and ``loss(pred, batch) -> scalar``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from icl.tasks.backcopy import BackcopyTask
from icl.tasks.mqar import MQARTask
from icl.tasks.parity import InContextParityTask, RunningParityTask, SparseParityTask
from icl.tasks.regression import RegressionTask, SuperpositionTask

TASKS: dict[str, type] = {
    "regression": RegressionTask,
    "superposition": SuperpositionTask,
    "mqar": MQARTask,
    "sparse_parity": SparseParityTask,
    "incontext_parity": InContextParityTask,
    "running_parity": RunningParityTask,
    "backcopy": BackcopyTask,
}


def task_fields(name: str) -> dict[str, Any]:
  """Field names and defaults of the task registered under `name`."""
  cls = TASKS[name]
  return {f.name: f.default for f in dataclasses.fields(cls)}


def make_task(task_config) -> Any:
  """Builds the task named by ``task_config.name`` from the other fields."""
  cfg = dict(task_config)
  name = cfg.pop("name")
  if name not in TASKS:
    raise ValueError(f"task.name={name!r}; allowed: {sorted(TASKS)}")
  return TASKS[name](**cfg)
