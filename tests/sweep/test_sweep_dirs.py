"""Sweep directories as a whole: summary.csv's task metrics, icl.plot and icl.evaluate
on DIR (every finished point, then the sweep's figures and table).

One tiny sweep (in-context parity: the regression format and one-layer model, with a
task accuracy) over model.num_heads = [1, 2, 4, 8]: H = 1 and 2 train, H = 4 is
missing, H = 8 is a killed run (metrics, no DONE). XLA optimisations are off for
these tests (compilation dominates a few-step run; the numbers are compared within
one run only).
"""

import csv
import json
import os

import numpy as np
import pytest

from tests.conftest import run_cli

FAST_XLA = {"JAX_DISABLE_MOST_OPTIMIZATIONS": "1"}
TRAINED = ["num_heads=1", "num_heads=2"]
MISSING, PARTIAL = "num_heads=4", "num_heads=8"


def tiny_sweep_config():
  import ml_collections

  from configs import parity
  c = ml_collections.ConfigDict()
  c.base = parity.get_config()  # incontext parity: eval_acc, eval_acc_heldout_fn, ...
  c.base.train.num_steps = 10
  c.base.train.log_every = c.base.train.eval_every = c.base.train.ckpt_every = 10
  c.base.train.batch_size = 16
  c.base.train.num_seeds = 2
  c.base.probes.every = 10
  c.base.probes.snapshots = 2
  c.base.probes.num_prompts = 16
  c.base.eval.num_prompts = 64
  c.base.eval.batch_size = 64
  c.base.eval.context_lens = "10,20"
  c.grid = ml_collections.ConfigDict()
  c.grid.model = ml_collections.ConfigDict()
  c.grid.model.num_heads = [1, 2, 4, 8]
  return c


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
  import jax

  from icl.sweep import grid
  directory = str(tmp_path_factory.mktemp("sweepdirs") / "sweep")
  config = tiny_sweep_config()
  points = grid.expand(config)
  grid.prepare_dir(directory, config, points)
  before = jax.config.read("jax_disable_most_optimizations")
  jax.config.update("jax_disable_most_optimizations", True)
  try:
    for p in points:
      if p.name in TRAINED:
        grid.run_point(p.config.to_dict(), p.workdir)
  finally:
    jax.config.update("jax_disable_most_optimizations", before)
  partial = os.path.join(directory, PARTIAL)  # killed after its first chunk
  os.makedirs(partial)
  with open(os.path.join(partial, "metrics.jsonl"), "w") as f:
    f.write(json.dumps({"step": 5, "train_loss": 1.0}) + "\n")
  grid.write_summary(directory, points)  # what python -m icl.sweep does at its end
  return directory


def last_metrics(point_dir):
  with open(os.path.join(point_dir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f][-1]


def read_csv(path):
  with open(path) as f:
    reader = csv.DictReader(f)
    return reader.fieldnames, list(reader)


def test_summary_has_every_final_metric(sweep_dir):
  fields, rows = read_csv(os.path.join(sweep_dir, "summary.csv"))
  fixed = ["point", "model.num_heads", "status", "step", "num_steps", "num_seeds",
           "wall_time_s", "sweep_value", "eval_loss", "eval_loss_se", "train_loss"]
  assert fields[:len(fixed)] == fixed  # the existing columns, first and in order
  for name in ("eval_acc", "eval_acc/se", "eval_acc_heldout_fn", "train_loss/se",
               "eval_loss/se", "eval_loss_stderr"):
    assert name in fields
  assert not [f for f in fields if f.endswith("/seeds") or f.startswith("probe/")]
  by_point = {r["point"]: r for r in rows}
  assert [by_point[n]["status"] for n in [*TRAINED, MISSING, PARTIAL]] == [
      "done", "done", "missing", "partial"]
  for name in TRAINED:
    last = last_metrics(os.path.join(sweep_dir, name))
    for key in ("eval_acc", "eval_acc/se", "eval_acc_train_fn", "eval_loss/se"):
      assert float(by_point[name][key]) == pytest.approx(last[key]), key
  assert by_point[MISSING]["eval_acc"] == "" and by_point[PARTIAL]["train_loss"] == "1.0"


def test_evaluate_on_a_sweep_dir_evaluates_every_finished_point(sweep_dir):
  proc = run_cli("icl.evaluate", f"--workdir={sweep_dir}", "--num_prompts=64",
                 "--context_lens=10,20", env=FAST_XLA, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert f"{MISSING}: missing" in proc.stderr and f"{PARTIAL}: not finished" in proc.stderr
  assert not os.path.exists(os.path.join(sweep_dir, MISSING, "eval.json"))
  assert not os.path.exists(os.path.join(sweep_dir, PARTIAL, "eval.json"))
  fields, rows = read_csv(os.path.join(sweep_dir, "eval_summary.csv"))
  assert [r["point"] for r in rows] == TRAINED
  assert fields[:2] == ["point", "model.num_heads"]
  for row in rows:
    with open(os.path.join(sweep_dir, row["point"], "eval.json")) as f:
      result = json.load(f)
    assert result["num_prompts"] == 64 and sorted(result["context_len"]) == ["10", "20"]
    for length in ("10", "20"):
      assert float(row[f"mse@{length}"]) == result["context_len"][length]
      assert float(row[f"mse@{length}/se"]) == result["context_len_se"][length]
    for name in ("acc", "acc/se", "acc_heldout_fn", "loss"):
      assert float(row[name]) == result["metrics"][name], name
    assert row["point"] in proc.stdout  # the printed sweep table
  assert f"{float(rows[0]['mse@10']):.4f}" in proc.stdout


def test_plot_on_a_sweep_dir_draws_the_points_and_the_sweep(sweep_dir):
  proc = run_cli("icl.plot", f"--workdir={sweep_dir}", timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert f"{MISSING}: missing" in proc.stderr and f"{PARTIAL}: not finished" in proc.stderr
  written = proc.stdout.split()
  sweep_figure = os.path.join(sweep_dir, "figures", "metrics_vs_num_heads.png")
  assert sweep_figure in written and os.path.getsize(sweep_figure) > 0
  for name in TRAINED:
    figures = os.path.join(sweep_dir, name, "figures")
    for figure in ("weights.png", "omega_mu.png", "attention.png"):
      assert os.path.join(figures, figure) in written
      assert os.path.getsize(os.path.join(figures, figure)) > 0
  assert not os.path.exists(os.path.join(sweep_dir, MISSING, "figures"))
  assert not os.path.exists(os.path.join(sweep_dir, PARTIAL, "figures"))


def test_plot_and_evaluate_refuse_a_sweep_without_finished_points(tmp_path):
  from icl import workdir as workdir_lib
  from icl.sweep import grid, report
  config = tiny_sweep_config()
  points = grid.expand(config)
  grid.prepare_dir(str(tmp_path), config, points)
  with pytest.raises(workdir_lib.WorkdirError, match="no finished point"):
    report.plot_sweep(str(tmp_path), lambda *args: [])
  with pytest.raises(workdir_lib.WorkdirError, match="no finished point"):
    report.evaluate_sweep(str(tmp_path))


def test_metrics_vs_axis_draws_one_line_per_other_value_with_seed_errors():
  from icl import figures
  rows = [{"model.num_heads": h, "task.kind": kind, "eval_acc": 0.5 + 0.1 * h,
           "eval_acc/se": 0.01 if kind == "a" else None, "eval_loss": 1.0 / h}
          for kind in ("a", "b") for h in (1, 2, 4, 8)]
  rows[-1]["eval_acc"] = None  # a point without the metric: left out of its line
  fig = figures.metrics_vs_axis(rows, "model.num_heads", ["task.kind"],
                                 ["eval_acc", "eval_loss"],
                                 {"model.num_heads": "num_heads", "task.kind": "kind"})
  acc, loss = fig.axes[:2]
  assert acc.get_title() == "eval_acc" and acc.get_xlabel() == "num_heads"
  lines = [line for line in acc.get_lines() if line.get_marker() == "o"]
  assert len(lines) == 2  # kind=a, kind=b
  np.testing.assert_allclose(lines[0].get_xdata(), [1, 2, 4, 8])
  np.testing.assert_allclose(lines[1].get_ydata(), [0.6, 0.7, 0.9])
  assert [t.get_text() for t in acc.get_legend().get_texts()] == ["kind=a", "kind=b"]
  assert len(acc.containers[0].lines[2]) == 1 and not acc.containers[1].lines[2]
  assert acc.get_xscale() == "log"  # 1..8 spans a factor 8
  assert len([line for line in loss.get_lines() if line.get_marker() == "o"]) == 2


def test_config_sweep_points_get_their_own_metrics():
  """With config.sweep in the base, each vmapped value has its row: summary from
  'm/<label>' keys, eval_summary from eval.json's 'points' and the per-model seeds."""
  from icl.sweep import grid, report
  records = [{"step": 10, "train_loss": 2.0, "train_loss/lr=0.1": 1.0,
              "train_loss/lr=0.2": 3.0},
             {"step": 10, "eval_acc": 0.5, "eval_acc/se": 0.1, "eval_acc/seeds": [1, 2],
              "eval_acc/lr=0.1": 0.4, "eval_acc/lr=0.1/se": 0.01,
              "eval_acc/lr=0.1/seeds": [0.39, 0.41], "eval_acc/lr=0.2": 0.6}]
  assert grid.final_metrics(records) == {"train_loss": 2.0, "eval_acc": 0.5,
                                         "eval_acc/se": 0.1}
  assert grid.final_metrics(records, "lr=0.1") == {"train_loss": 1.0, "eval_acc": 0.4,
                                                   "eval_acc/se": 0.01}
  point = grid.Point("num_heads=2", {"model.num_heads": 2}, None)
  result = {"step": 10, "num_prompts": 8, "num_seeds": 2,
            "context_len": {"10": 9.0}, "context_len_se": {"10": 9.0},
            "metrics": {"acc": 0.5, "acc/se": 0.1, "acc/seeds": [0.2, 0.4, 0.6, 0.8]},
            "points": {"lr=0.1": {"context_len": {"10": 1.0}, "context_len_se": {"10": 0.1}},
                       "lr=0.2": {"context_len": {"10": 2.0}, "context_len_se": {"10": 0.2}}}}
  rows = report.eval_rows(point, result)
  assert [(r["sweep_value"], r["mse@10"], r["mse@10/se"]) for r in rows] == [
      ("lr=0.1", 1.0, 0.1), ("lr=0.2", 2.0, 0.2)]
  assert [r["acc"] for r in rows] == pytest.approx([0.3, 0.7])
  assert rows[0]["acc/se"] == pytest.approx(0.1)  # std([0.2, 0.4], ddof=1) / sqrt(2)
