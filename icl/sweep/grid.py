"""A sweep config expanded into points, one work dir each, and its summary.csv.

A sweep config file's ``get_config(variant)`` returns a ConfigDict with

  base:  an experiment config (e.g. ``configs/regression.py``'s get_config())
  grid:  the fields to vary, nested like the experiment config, each a list:
         ``grid.model.num_heads = [1, 2, 4, 8]``, ``grid.seed = [0, 1]``

Points are the Cartesian product in the grid's field order; a point is named by its
values, ``"num_heads=2,seed=0"`` (the field's last component; the full name where two
fields share it), and trains in ``<DIR>/<name>``, an ordinary icl work dir.
``<DIR>/sweep.json`` records the grid and the point names; ``<DIR>/summary.csv``
has one row per point (per point and value with ``base.sweep``); see docs/sweeps.md.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import os
import time
from typing import Any

import ml_collections

from icl import config_lib
from icl import workdir as workdir_lib

SWEEP = "sweep.json"
SUMMARY = "summary.csv"


class SweepError(ValueError):
  """A bad sweep config or sweep directory (one-line message)."""


@dataclasses.dataclass
class Point:
  name: str  # "num_heads=2,seed=0": also the sub-directory of the sweep dir
  values: dict[str, Any]  # {"model.num_heads": 2, "seed": 0}
  config: ml_collections.ConfigDict  # the resolved experiment config
  workdir: str = ""


def _format(value: Any) -> str:
  return repr(value) if isinstance(value, float) else str(value)


def grid_fields(sweep_config) -> dict[str, list]:
  """{'model.num_heads': [1, 2, 4, 8], ...} in the grid's order."""
  if "base" not in sweep_config or "grid" not in sweep_config:
    raise SweepError("a sweep config needs 'base' (an experiment config) and 'grid' "
                     "(fields -> lists of values); see docs/sweeps.md")
  fields = workdir_lib.flatten(sweep_config.grid)
  if not fields:
    raise SweepError("the sweep config's grid is empty; give e.g. "
                     "grid.model.num_heads = [1, 2, 4, 8]")
  for name, values in fields.items():
    if not isinstance(values, (list, tuple)) or not values:
      raise SweepError(f"grid.{name}={values!r} is not allowed; allowed: a non-empty "
                       "list of values")
    if len(set(map(_format, values))) != len(values):
      raise SweepError(f"grid.{name}={list(values)!r} repeats a value")
  return {k: list(v) for k, v in fields.items()}


def _labels(fields: list[str]) -> dict[str, str]:
  leaves = [f.rsplit(".", 1)[-1] for f in fields]
  return {f: (leaf if leaves.count(leaf) == 1 else f) for f, leaf in zip(fields, leaves)}


def expand(sweep_config) -> list[Point]:
  """The grid's points, each with a validated experiment config."""
  fields = grid_fields(sweep_config)
  base_flat = workdir_lib.flatten(sweep_config.base)
  labels = _labels(list(fields))
  points = []
  for combo in itertools.product(*fields.values()):
    values = dict(zip(fields, combo))
    name = ",".join(f"{labels[f]}={_format(v)}" for f, v in values.items())
    if "/" in name or name.startswith("."):
      raise SweepError(f"sweep point name {name!r} is not a valid directory name")
    config = sweep_config.base.copy_and_resolve_references()
    for field, value in values.items():
      if field not in base_flat:
        raise SweepError(f"grid.{field}: the base config has no field {field!r}")
      section = config
      *parents, leaf = field.split(".")
      for part in parents:
        section = section[part]
      try:
        section[leaf] = value
      except TypeError as e:
        raise SweepError(f"grid.{field}={value!r}: {e}") from None
    try:
      config_lib.validate(config)
    except config_lib.ConfigError as e:
      raise SweepError(f"sweep point {name}: {e}") from None
    points.append(Point(name, values, config))
  return points


def prepare_dir(directory: str, sweep_config, points: list[Point]) -> None:
  """Creates DIR (or checks that it holds this sweep) and writes sweep.json."""
  path = os.path.join(directory, SWEEP)
  names = [p.name for p in points]
  if os.path.exists(path):
    with open(path) as f:
      stored = json.load(f)
    differing = config_lib.differing_fields(
        stored.get("base", {}), workdir_lib.flatten(sweep_config.base.to_dict()),
        config_lib.RESUMABLE_FIELDS)
    if stored.get("points") != names or differing:
      what = (f"base fields {', '.join(list(differing)[:3])}" if differing
              else f"points {stored.get('points')}")
      raise SweepError(f"sweep dir {directory!r} holds a different sweep ({what}); use "
                       "another --workdir")
  elif os.path.isdir(directory) and os.listdir(directory):
    raise SweepError(f"--workdir={directory!r} exists and is not an icl sweep dir (no "
                     f"{SWEEP}); use a new or empty directory")
  try:
    os.makedirs(directory, exist_ok=True)
    with open(path, "w") as f:
      json.dump({"grid": grid_fields(sweep_config), "points": names,
                 "base": workdir_lib.flatten(sweep_config.base.to_dict())},
                f, indent=2, default=str)
  except OSError as e:
    raise SweepError(f"--workdir={directory!r} is not writable ({e.strerror})") from None
  for p in points:
    p.workdir = os.path.join(directory, p.name)


def is_done(point: Point) -> bool:
  """Finished: DONE exists and says the run reached the point's num_steps."""
  path = os.path.join(point.workdir, workdir_lib.DONE)
  try:
    with open(path) as f:
      return int(f.read().strip() or 0) >= point.config.train.num_steps
  except (OSError, ValueError):
    return False


def run_point(config_dict: dict, workdir: str) -> dict:
  """Trains (or resumes) one point; the unit of work of every backend. Takes a
  plain dict so that it pickles to a process pool or a Ray worker. The point's
  programs go with its Experiment (`icl.programs`): a process that trains many
  points (one after another, a pool worker, a Ray worker) keeps none of them."""
  from icl.train import trainer
  config = ml_collections.ConfigDict(config_dict)
  t0 = time.time()
  result = trainer.train_and_evaluate(config, workdir)
  return {"eval_loss": float(result["loss"]), "seconds": time.time() - t0}


# --- summary.csv -----------------------------------------------------------------


def _last(records: list[dict], key: str):
  for r in reversed(records):
    if key in r:
      return r[key]
  return None


METRIC_PREFIXES = ("eval_", "train_")


def final_metrics(records: list[dict], label: str = "") -> dict[str, Any]:
  """Every metric the records hold (``eval_*`` and ``train_*`` keys), at the last
  line that has it: {"eval_acc": 0.9, "eval_acc/se": 0.01, ...} in first-seen order
  ('/seeds' lists left out). With a ``config.sweep`` label (``lr=0.001``), that
  point's keys ``m/<label>`` and ``m/<label>/se``, named ``m`` and ``m/se``."""
  out: dict[str, Any] = {}
  for record in records:
    for key, value in record.items():
      if not key.startswith(METRIC_PREFIXES) or key.endswith("/seeds"):
        continue
      parts = key.split("/")
      if label:
        if len(parts) < 2 or parts[1] != label:
          continue  # the pooled value or another point's
        parts = [parts[0], *parts[2:]]
      if len(parts) == 1 or parts[1:] == ["se"]:
        out["/".join(parts)] = value
  return out


def summary_rows(points: list[Point]) -> list[dict]:
  """One row per point (per point and vmapped value), from its metrics.jsonl: the
  fixed columns, then every final metric (final_metrics) not among them."""
  rows = []
  for p in points:
    records = workdir_lib.read_metrics(p.workdir, missing_ok=True)
    timed = [r["wall_time"] for r in records if "wall_time" in r]  # probe-only lines lack it
    common = {"point": p.name, **{f: v for f, v in p.values.items()},
              "status": "done" if is_done(p) else ("partial" if records else "missing"),
              "step": records[-1]["step"] if records else 0,
              "num_steps": p.config.train.num_steps,
              "num_seeds": p.config.train.num_seeds,
              "wall_time_s": round(timed[-1] - timed[0], 3) if len(timed) > 1 else 0.0}
    for label in config_lib.resolve(p.config, check_devices=False).sweep.labels or [""]:
      key = f"eval_loss/{label}" if label else "eval_loss"
      se = _last(records, f"{key}/se")
      if se is None and not label:
        se = _last(records, "eval_loss_stderr")  # one seed: Monte-Carlo error
      row = {**common, "sweep_value": label, "eval_loss": _last(records, key),
             "eval_loss_se": se,
             "train_loss": _last(records, key.replace("eval_", "train_", 1))}
      for name, value in final_metrics(records, label).items():
        row.setdefault(name, value)
      rows.append(row)
  return rows


def write_summary(directory: str, points: list[Point]) -> str:
  rows = summary_rows(points)
  path = os.path.join(directory, SUMMARY)
  fields = list(dict.fromkeys(k for row in rows for k in row)) or ["point"]
  with open(path + ".tmp", "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=fields, restval="")
    writer.writeheader()
    writer.writerows(rows)
  os.replace(path + ".tmp", path)
  return path
