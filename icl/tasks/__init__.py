"""Synthetic in-context tasks, one file each, looked up by name in `TASKS`.

A task is a frozen dataclass subclassing `icl.tasks.base.Task` (the contract: the
required `sample` and `loss`, and every optional hook with its default); its
dataclass fields are exactly the fields of ``config.task`` (minus ``name``).
Adding a task is one file and one `register` call (or one line in `TASKS`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from icl.tasks.backcopy import BackcopyTask
from icl.tasks.base import Task
from icl.tasks.decision_tree import DecisionTreeTask
from icl.tasks.linear import LinearTask
from icl.tasks.mqar import MQARTask
from icl.tasks.noisy_linear import NoisyLinearTask
from icl.tasks.parity import InContextParityTask, RunningParityTask, SparseParityTask
from icl.tasks.regression import RegressionTask, SuperpositionTask
from icl.tasks.relu_network import ReluNetworkTask
from icl.tasks.sparse_linear import SparseLinearTask

TASKS: dict[str, type[Task]] = {
    "regression": RegressionTask,
    "superposition": SuperpositionTask,
    "mqar": MQARTask,
    "sparse_parity": SparseParityTask,
    "incontext_parity": InContextParityTask,
    "running_parity": RunningParityTask,
    "backcopy": BackcopyTask,
    "linear": LinearTask,
    "noisy_linear": NoisyLinearTask,
    "sparse_linear": SparseLinearTask,
    "relu_network": ReluNetworkTask,
    "decision_tree": DecisionTreeTask,
}


def register(name: str, cls: type[Task]) -> type[Task]:
  """Adds a task class under `name` (usable as a decorator's body); returns it."""
  if not (dataclasses.is_dataclass(cls) and issubclass(cls, Task)):
    raise TypeError(f"task {name!r}: {cls.__name__} must be a dataclass subclassing "
                    "icl.tasks.base.Task")
  TASKS[name] = cls
  return cls


def task_fields(name: str) -> dict[str, Any]:
  """Field names and defaults of the task registered under `name`."""
  return {f.name: f.default for f in dataclasses.fields(TASKS[name])}


def make_task(task_config) -> Task:
  """Builds the task named by ``task_config.name`` from the other fields."""
  cfg = dict(task_config)
  name = cfg.pop("name")
  if name not in TASKS:
    raise ValueError(f"task.name={name!r}; allowed: {sorted(TASKS)}")
  return TASKS[name](**cfg)
