"""icl/records.py: the one home of metric records (summaries over seeds and sweep
points, probe keys) and the writers (metrics.jsonl; TensorBoard when installed)."""

import glob
import json
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

from icl import records

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_seed_summaries_are_mean_se_and_values():
  out = records.summarize("eval_loss", np.array([1.0, 2.0, 4.0]))
  assert out["eval_loss"] == pytest.approx(7 / 3)
  assert out["eval_loss/se"] == pytest.approx(np.std([1, 2, 4], ddof=1) / np.sqrt(3))
  assert out["eval_loss/seeds"] == [1.0, 2.0, 4.0]
  assert records.summarize("x", np.array([5.0])) == {"x": 5.0}


def test_sweep_points_are_summarized_over_their_own_seeds():
  per_model = np.array([1.0, 3.0, 10.0, 30.0])  # point-major: 2 points x 2 seeds
  out = records.summarize("m", per_model, labels=["lr=0.1", "lr=1.0"], num_seeds=2)
  assert out["m"] == pytest.approx(11.0)  # the pooled progress figure
  assert out["m/lr=0.1"] == 2.0 and out["m/lr=1.0"] == 20.0
  assert out["m/lr=1.0/seeds"] == [10.0, 30.0]
  assert out["m/lr=0.1/se"] == pytest.approx(1.0)


def test_jsonl_writer_drops_lines_past_the_resume_step(tmp_path):
  path = str(tmp_path / "metrics.jsonl")
  w = records.JsonlWriter(path)
  w.write([{"step": s, "loss": float(s), "bad": float("nan")} for s in (10, 20, 30)])
  assert [json.loads(l)["bad"] for l in open(path)] == [None] * 3  # strict JSON
  records.JsonlWriter(path, resume_step=20)
  assert [r["step"] for r in records.read_jsonl(path)] == [10, 20]


def _events(logdir: str) -> list:
  """Every event of the TFRecord event files in `logdir` (length, crc, data, crc)."""
  from tensorboardX.proto import event_pb2
  out = []
  for path in sorted(glob.glob(os.path.join(logdir, "events.out.tfevents.*"))):
    data = open(path, "rb").read()
    i = 0
    while i < len(data):
      (n,) = struct.unpack("<Q", data[i:i + 8])
      out.append(event_pb2.Event.FromString(data[i + 12:i + 12 + n]))
      i += 12 + n + 4
  return out


def _scalars(logdir: str) -> dict[str, list[tuple[int, float]]]:
  """Every scalar of the event files in `logdir`: tag -> [(step, value)]."""
  out: dict[str, list] = {}
  for event in _events(logdir):
    for v in event.summary.value:
      out.setdefault(v.tag, []).append((event.step, v.simple_value))
  return out


def test_tensorboard_mirrors_every_finite_scalar(tmp_path):
  pytest.importorskip("tensorboardX")
  w = records.Writer(str(tmp_path / "metrics.jsonl"), 0, str(tmp_path / "tb"))
  assert len(w.writers) == 2
  w.write([{"step": 10, "train_loss": 0.5, "train_loss/seeds": [0.4, 0.6],
            "eval_loss": float("nan"), "wall_time": 1e9, "loss/lr=0.1": 2.0},
           {"step": 20, "train_loss": 0.25, "probe/omega/h0": 0.125}])
  w.close()
  scalars = _scalars(str(tmp_path / "tb"))
  # Tags as tensorboardX's add_scalar cleans them ('=' -> '_').
  assert scalars == {"train_loss": [(10, 0.5), (20, 0.25)], "probe/omega/h0": [(20, 0.125)],
                     "loss/lr_0.1": [(10, 2.0)]}
  # One event per record, holding all its scalars (not one event per scalar).
  assert [len(e.summary.value) for e in _events(str(tmp_path / "tb")) if e.summary.value] == [2, 2]


def test_tensorboard_writer_leaves_torch_unimported(tmp_path):
  """tensorboardX's import would load torch (seconds of every run's start-up): the
  writer imports it with torch marked absent, and torch stays importable."""
  pytest.importorskip("tensorboardX")
  code = (
      "import importlib.util, sys\n"
      "from icl import records\n"
      f"w = records.Writer({str(tmp_path / 'm.jsonl')!r}, 0, {str(tmp_path / 'tb')!r})\n"
      "w.write([{'step': 1, 'loss': 0.5}]); w.close()\n"
      "assert len(w.writers) == 2 and 'torch' not in sys.modules, sorted(sys.modules)[:5]\n"
      "if importlib.util.find_spec('torch') is not None:\n"
      "  import torch  # noqa: F401\n")
  subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120)
