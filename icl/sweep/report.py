"""A sweep directory as a whole: its points, their evaluation, sweep-level figures.

``python -m icl.plot --workdir=DIR`` and ``python -m icl.evaluate --workdir=DIR`` come
here when DIR holds ``sweep.json`` (icl/sweep/grid.py): each finished point is
plotted / evaluated as an ordinary work dir, and the sweep gets

  DIR/figures/metrics_vs_<axis>.png  every final metric (summary.csv) against one grid
                                     axis, one line per value of the other axes
  DIR/eval_summary.csv               one row per point: grid values, test MSE and its
                                     standard error per context length, the metrics
                                     at the training length (from each eval.json)

A point that is missing or has not finished (no DONE at its num_steps) is skipped
with a log line; see docs/sweeps.md.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import os
from collections.abc import Callable
from typing import Any

import ml_collections
from absl import logging

from icl import records
from icl import workdir as workdir_lib
from icl.sweep import grid

FIGURES = "figures"
EVAL_SUMMARY = "eval_summary.csv"


def is_sweep_dir(path: str) -> bool:
  return os.path.isfile(os.path.join(path, grid.SWEEP))


def _unflatten(flat: dict[str, Any]) -> dict:
  out: dict = {}
  for key, value in flat.items():
    section = out
    *parents, leaf = key.split(".")
    for part in parents:
      section = section.setdefault(part, {})
    section[leaf] = value
  return out


def load_points(directory: str) -> list[grid.Point]:
  """The points sweep.json lists, with their values, the sweep's config for each
  (the base of sweep.json with the point's values: the current target, e.g. a raised
  num_steps) and their work dirs."""
  path = os.path.join(directory, grid.SWEEP)
  try:
    with open(path) as f:
      stored = json.load(f)
    fields, names, base = stored["grid"], stored["points"], stored["base"]
  except (OSError, ValueError, KeyError, TypeError) as e:
    raise workdir_lib.WorkdirError(f"{path} is not a readable sweep record ({e})") from None
  combos = list(itertools.product(*fields.values()))
  if len(combos) != len(names):
    raise workdir_lib.WorkdirError(
        f"{path} lists {len(names)} points for a grid of {len(combos)}")
  points = []
  for name, combo in zip(names, combos):
    values = dict(zip(fields, combo))
    config = ml_collections.ConfigDict(_unflatten({**base, **values}))
    points.append(grid.Point(name, values, config, os.path.join(directory, name)))
  return points


def _why_not_done(point: grid.Point) -> str | None:
  """None for a finished point, else why it is skipped."""
  if grid.is_done(point):
    return None
  if not os.path.isdir(point.workdir):
    return "missing (no work dir)"
  records = workdir_lib.read_metrics(point.workdir, missing_ok=True)
  step = records[-1]["step"] if records else 0
  return (f"not finished (last step {step} of {point.config.train.num_steps}, no "
          f"{workdir_lib.DONE})")


def finished_points(points: list[grid.Point],
                    skipped: dict[str, str]) -> list[grid.Point]:
  """The finished points; the others go into `skipped` with a log line."""
  done = []
  for p in points:
    why = _why_not_done(p)
    if why is None:
      done.append(p)
    else:
      skipped[p.name] = why
      logging.warning("sweep point %s: %s; skipped", p.name, why)
  return done


# --- figures -----------------------------------------------------------------------


def plotted_metrics(rows: list[dict]) -> list[str]:
  """The final metrics of summary rows worth a panel: eval_loss, train_loss, then the
  other eval_* / train_* metrics (not their '/se', nor the Monte-Carlo '_stderr')."""
  names = [k for row in rows for k in row
           if k.startswith(grid.METRIC_PREFIXES) and "/" not in k
           and not k.endswith(("_stderr", "_se"))]
  names = list(dict.fromkeys(["eval_loss", "train_loss", *names]))
  return [n for n in names if any(_number(row.get(n)) is not None for row in rows)]


def _number(value) -> float | None:
  try:
    value = float(value)
  except (TypeError, ValueError):
    return None
  return value if math.isfinite(value) else None


def sweep_figures(points: list[grid.Point], rows: list[dict]) -> dict:
  """{file name: Figure}: the final metrics against each grid axis with more than
  one value (the first axis when none has)."""
  from icl import figures as figure_lib
  axes = list(points[0].values) if points else []
  labels = grid._labels(axes)
  extra = ["sweep_value"] if any(row.get("sweep_value") for row in rows) else []
  varying = [a for a in axes if len({repr(r[a]) for r in rows}) > 1] or axes[:1]
  metrics = plotted_metrics(rows)
  figures = {}
  if not rows or not metrics:
    return figures
  for axis in varying:
    others = [a for a in axes if a != axis] + extra
    figures[f"metrics_vs_{labels[axis]}.png"] = figure_lib.metrics_vs_axis(
        rows, axis, others, metrics, {a: labels.get(a, a) for a in axes + extra},
        title=f"final metrics against {labels[axis]}")
  return figures


def plot_sweep(directory: str, plot_point, seed_index: int = 0, dpi: int = 110
               ) -> tuple[list[str], dict[str, str]]:
  """Every finished point's figures (in its own figures/, drawn by
  `plot_point(workdir, seed_index, dpi)`: icl.plot.plot_workdir) and the sweep's
  figures in DIR/figures/; returns (paths written, {skipped point: why})."""
  import matplotlib.pyplot as plt

  points = load_points(directory)
  skipped: dict[str, str] = {}
  done = finished_points(points, skipped)
  if not done:
    raise workdir_lib.WorkdirError(
        f"sweep dir {directory!r} has no finished point to plot ({len(points)} "
        "listed; train them with python -m icl.sweep)")
  paths = []
  for p in done:
    try:
      paths += plot_point(p.workdir, seed_index, dpi)
    except (workdir_lib.WorkdirError, OSError, KeyError, ValueError) as e:
      skipped[p.name] = f"not plotted ({e})"
      logging.warning("sweep point %s: not plotted (%s); skipped", p.name, e)
  names = {p.name for p in done}
  rows = [r for r in grid.summary_rows(points) if r["point"] in names]
  figures = sweep_figures(points, rows)
  out_dir = os.path.join(directory, FIGURES)
  os.makedirs(out_dir, exist_ok=True)
  for name, fig in figures.items():
    path = os.path.join(out_dir, name)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    paths.append(path)
  return paths, skipped


# --- evaluation --------------------------------------------------------------------


def _point_metrics(result: dict, index: int, num_labels: int) -> dict[str, Any]:
  """The metrics at the training length (eval.json 'metrics') of vmapped point
  `index` of `num_labels` (the whole run when num_labels = 1): mean and '/se'."""
  metrics = result.get("metrics", {})
  out: dict[str, Any] = {}
  names = [k for k in metrics if "/" not in k]
  for name in names:
    if num_labels == 1:
      out[name] = metrics[name]
      if f"{name}/se" in metrics:
        out[f"{name}/se"] = metrics[f"{name}/se"]
      continue
    seeds = metrics.get(f"{name}/seeds")
    if not seeds or len(seeds) % num_labels:
      continue
    per = len(seeds) // num_labels  # point-major: model m = p * S + i
    summary = records.summarize_seeds(name, seeds[index * per:(index + 1) * per])
    out.update({k: v for k, v in summary.items() if not k.endswith("/seeds")})
  return out


def eval_rows(point: grid.Point, result: dict) -> list[dict]:
  """eval_summary.csv rows of one point's evaluate_workdir result (one per
  config.sweep value)."""
  labels = list(result.get("points", {})) or [""]
  rows = []
  for index, label in enumerate(labels):
    source = result["points"][label] if label else result
    row = {"point": point.name, **point.values, "sweep_value": label,
           "step": result.get("step"), "num_seeds": result.get("num_seeds"),
           "num_prompts": result.get("num_prompts")}
    for length in sorted(source.get("context_len", {}), key=int):
      row[f"mse@{length}"] = source["context_len"][length]
      row[f"mse@{length}/se"] = source.get("context_len_se", {}).get(length)
    row.update(_point_metrics(result, index, len(labels)))
    rows.append(workdir_lib.jsonable(row))  # NaN -> None: an empty cell
  return rows


def write_csv(path: str, rows: list[dict]) -> None:
  fields = list(dict.fromkeys(k for row in rows for k in row)) or ["point"]
  with open(path + ".tmp", "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=fields, restval="")
    writer.writeheader()
    writer.writerows(rows)
  os.replace(path + ".tmp", path)


def evaluate_sweep(directory: str, context_lens: list[int] | None = None,
                   num_prompts: int | None = None,
                   on_point: Callable[[str, dict], None] | None = None) -> dict:
  """Evaluates every finished point (each writes its eval.json) and writes
  DIR/eval_summary.csv. Returns {"rows", "path", "results": {point: result},
  "skipped": {point: why}}; `on_point(name, result)` is called as each finishes."""
  from icl import evaluate
  points = load_points(directory)
  skipped: dict[str, str] = {}
  results, rows = {}, []
  for p in finished_points(points, skipped):
    try:
      result = evaluate.evaluate_workdir(p.workdir, context_lens, num_prompts)
    except workdir_lib.WorkdirError as e:
      skipped[p.name] = f"not evaluated ({e})"
      logging.warning("sweep point %s: not evaluated (%s); skipped", p.name, e)
      continue
    results[p.name] = result
    rows += eval_rows(p, result)
    if on_point:
      on_point(p.name, result)
  if not results:
    raise workdir_lib.WorkdirError(
        f"sweep dir {directory!r} has no finished point to evaluate "
        f"({len(points)} listed; train them with python -m icl.sweep)")
  path = os.path.join(directory, EVAL_SUMMARY)
  write_csv(path, rows)
  return {"rows": rows, "path": path, "results": results, "skipped": skipped}


def format_sweep_table(rows: list[dict]) -> str:
  """The sweep's table: one line per point, value (se) per column."""
  if not rows:
    return "(no points evaluated)"
  values = [k for k in dict.fromkeys(k for r in rows for k in _value_columns(r))
            if not k.endswith("/se")]
  names = [f"{r['point']}" + (f" {r['sweep_value']}" if r.get("sweep_value") else "")
           for r in rows]
  width = max(len("point"), *map(len, names))

  def cell(row, key):
    v, se = _number(row.get(key)), _number(row.get(f"{key}/se"))
    if v is None:
      return "-"
    return f"{v:.4f}" + (f" ({se:.4f})" if se is not None else "")

  cells = [[cell(r, k) for k in values] for r in rows]
  widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(values)]
  lines = ["  ".join([f"{'point':<{width}}", *(f"{k:>{w}}" for k, w in zip(values, widths))])]
  for name, row_cells in zip(names, cells):
    lines.append("  ".join([f"{name:<{width}}",
                            *(f"{c:>{w}}" for c, w in zip(row_cells, widths))]))
  return "\n".join(lines)


def _value_columns(row: dict) -> list[str]:
  """The value columns of an eval_summary row: those after its counts."""
  keys = list(row)
  return keys[keys.index("num_prompts") + 1:]
