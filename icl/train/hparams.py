"""Hyperparameters that keep shapes, swept inside one compiled program.

``config.sweep.field = "train.lr"`` and ``config.sweep.value_list = "1e-3,3e-3,1e-2"``
train len(values) x train.num_seeds models in one program: the model axis M of the
state is point-major (model m = p * S + i is sweep point p, seed config.seed + i, so
every point sees the same seeds and data: common random numbers).

Mechanism: the per-model value is part of the training state,
``state["hparams"] = {leaf: value}`` (e.g. ``{"lr": f32[]}`` per model, so a
checkpoint says what it trained), and inside the vmapped function the
`Experiment` is rebuilt around the traced scalar (`bind`): the config becomes a
read-only namespace with the value substituted, a task field goes through
``dataclasses.replace(task, noise_var=value)`` (the task is a plain container), a
model field reaches the initialiser, a train field rebuilds the optax chain (pure
closures over the value; the optimizer state's structure does not depend on it).
Nothing is recompiled per value and nothing outside the sweep changes when
``sweep.field`` is empty.

Only fields in `FIELDS` are allowed: numeric, shape-preserving, and used in
arithmetic only (never in a Python branch or a numpy constant).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

# field -> what it changes (for the error message and docs/sweeps.md).
FIELDS = {
    "train.lr": "peak learning rate (any schedule)",
    "train.b1": "Adam beta1",
    "train.b2": "Adam beta2",
    "train.eps": "Adam epsilon",
    "train.weight_decay": "decoupled weight decay (adamw)",
    "task.noise_var": "label noise variance sigma^2 (training and evaluation data)",
    "task.prior_scale": "scale of the task vector beta",
    "task.prior_mean": "mean of the task vector beta",
    "model.init_scale": "initialisation scale",
}


def _sweep(config) -> tuple[str, str]:
  sweep = getattr(config, "sweep", None)
  if sweep is None:
    return "", ""
  # Item access: ConfigDict.values is also a method name.
  get = sweep.get if hasattr(sweep, "get") else vars(sweep).get
  return str(get("field", "") or ""), str(get("value_list", "") or "")


def field(config) -> str:
  """The swept field ('' when the program trains one point)."""
  return _sweep(config)[0]


def leaf(config) -> str:
  """'lr' for 'train.lr': the name used in metric keys and in state['hparams']."""
  return field(config).rsplit(".", 1)[-1]


def values(config) -> list[float]:
  """The swept values, as written in config.sweep.value_list ([] without a sweep)."""
  name, text = _sweep(config)
  if not name:
    return []
  return [float(t) for t in text.replace(" ", "").split(",") if t]


def num_points(config) -> int:
  return max(len(values(config)), 1)


def labels(config) -> list[str]:
  """Metric-key suffixes, one per point: 'lr=0.001' (the value is repr(float))."""
  return [f"{leaf(config)}={v!r}" for v in values(config)]


def model_values(config) -> dict | None:
  """{leaf: f32[M]} (point-major, each value repeated num_seeds times), or None."""
  if not field(config):
    return None
  vals = np.repeat(np.asarray(values(config), np.float32), config.train.num_seeds)
  return {leaf(config): vals}


def point_config(config, value: float):
  """A copy of `config` that trains the single point `value` (no sweep)."""
  c = config.copy_and_resolve_references()
  section, name = field(config).split(".")
  with c.unlocked():
    c[section][name] = float(value)
    c.sweep["field"] = ""
    c.sweep["value_list"] = ""
  return c


def check(config, validate_one) -> None:
  """Raises ConfigError (one line) unless config.sweep is empty or valid;
  `validate_one` validates each point's config (config_lib.validate)."""
  from icl.config_lib import ConfigError
  name, text = _sweep(config)
  if not name:
    if text:
      raise ConfigError(f"config.sweep.value_list={text!r} is set but config.sweep.field "
                        f"is empty; allowed fields: {', '.join(FIELDS)}")
    return
  if name not in FIELDS:
    raise ConfigError(
        f"config.sweep.field={name!r} cannot be vmapped (only numeric fields that keep "
        f"shapes); allowed: {', '.join(FIELDS)}; sweep other fields with python -m "
        "icl.sweep (one program per point)")
  section, key = name.split(".")
  if key not in config[section]:
    raise ConfigError(f"config.sweep.field={name!r}: this config has no {name}")
  try:
    vals = values(config)
  except ValueError:
    vals = []
  if not vals or len(set(vals)) != len(vals):
    raise ConfigError(f"config.sweep.value_list={text!r} is not allowed; allowed: distinct "
                      "comma-separated numbers, e.g. '1e-3,3e-3,1e-2'")
  for v in vals:
    validate_one(point_config(config, v))


class _Config(dict):
  """A read-only view of a config that may hold a traced value: attribute access like
  ml_collections (`config.model.d_model`) and mapping access (`dict(config.model)`,
  `config.get('probes')`), as the models and tasks use both."""

  def __getattr__(self, name: str):
    try:
      return self[name]
    except KeyError:
      raise AttributeError(name) from None


def _namespace(tree: dict) -> _Config:
  return _Config({k: _namespace(v) if isinstance(v, dict) else v for k, v in tree.items()})


def bind(exp, hparams: dict | None):
  """The Experiment with the traced per-model value substituted (see module doc)."""
  if not hparams:
    return exp
  from icl.train import optim
  (value,) = hparams.values()
  section, key = field(exp.config).split(".")
  tree = exp.config.to_dict() if hasattr(exp.config, "to_dict") else dict(exp.config)
  tree = {k: dict(v) if isinstance(v, dict) else v for k, v in tree.items()}
  tree[section][key] = value
  config = _namespace(tree)
  changes: dict[str, Any] = {"config": config}
  if section == "task":
    changes["task"] = dataclasses.replace(exp.task, **{key: value})
  elif section == "train":
    changes["optimizer"] = optim.make_optimizer(config.train)
  return dataclasses.replace(exp, **changes)


def summarize(config, name: str, per_model: np.ndarray) -> dict[str, Any]:
  """Metric `name` of every model [M] -> metrics-record entries.

  Without a sweep: workdir.summarize_seeds (mean, '/se', '/seeds' over seeds).
  With one: `name` is the mean over all M models (a progress figure only) and each
  point p adds '<name>/<label_p>' with its own '/se' and '/seeds' over the seeds.
  """
  from icl import workdir as workdir_lib
  per_model = np.asarray(per_model, np.float64).reshape(-1)
  if not field(config):
    return workdir_lib.summarize_seeds(name, per_model)
  out = {name: float(per_model.mean())}
  per_point = per_model.reshape(num_points(config), config.train.num_seeds)
  for label, seeds in zip(labels(config), per_point):
    out.update(workdir_lib.summarize_seeds(f"{name}/{label}", seeds))
  return out
