"""The whole_process benchmark section: its read-outs, its targets' rows and (slow) the
section end to end at a few hundred steps."""

import importlib.util
import math

import pytest

from benchmarks import report, sections
from benchmarks.sections import whole_process as wp


def test_torch_threads_come_from_the_baselines():
  s = sections.Settings.for_mode(False)
  rows = [{"case": "icl H=2", "steps_per_s": 1500.0},
          {"case": "torch eager H=2 threads=1", "steps_per_s": 300.0},
          {"case": "torch eager H=2 threads=2", "steps_per_s": 350.0},
          {"case": "torch eager H=8 threads=1", "steps_per_s": 999.0}]
  assert wp.torch_threads({"baselines": {"rows": rows}}) == 2
  assert wp.torch_threads({}) == 0  # torch's default
  assert sections.SECTIONS["whole_process"].when(s)
  assert not sections.SECTIONS["whole_process"].when(sections.Settings.for_mode(True))


def _results(over_loop: float, vs_torch: float, beside: bool = True) -> dict:
  """A whole_process result whose fastest run took `over_loop` x the 15 s loop; beside
  it the loop ran at 1,250 steps/s (16 s), as results.json holds it since the blocks
  beside each run were kept (`beside`) or before."""
  wall = 15.0 * over_loop
  warm = {"wall_s": wall, "first_metrics_s": 3.0, "last_metrics_s": wall - 0.5,
          "over_loop": over_loop, "overhead_s": wall - 15.0}
  if beside:
    warm.update(in_run_steps_per_s=1234.5, loop_beside_steps_per_s=1250.0,
                over_loop_beside=wall / 16.0)
  return {"headline": {}, "whole_process": {
      "steps": 20_000, "heads": 2, "loop_steps_per_s": 20_000 / 15.0, "loop_s": 15.0,
      "loop_before": 1200.0, "loop_after": 20_000 / 15.0, "loop_between": [1300.0],
      "icl_warm_walls": [wall, wall + 1.0], "skipped": {}, "icl_warm": warm,
      "torch": {"wall_s": wall * vs_torch, "threads": 1}, "icl_vs_torch": vs_torch}}


BESIDE = "whole 20k-step run (warm cache) <= 1.25x its loop (the blocks beside it)"
FASTEST = "whole 20k-step run (warm cache) <= 1.25x its loop"


def test_targets_and_table():
  rows = {t: (m, v) for t, m, v in report.targets(_results(1.3, 3.0))}
  assert rows[BESIDE] == ("1.22x (1.30x against the fastest block)", "met")  # 19.5 / 16
  assert rows["whole process icl vs torch reference >= 2.5x"] == ("3.00x", "met")
  rows = {t: v for t, _, v in report.targets(_results(1.4, 2.4))}
  assert rows[BESIDE] == "not met"  # 21 / 16 = 1.31
  assert rows["whole process icl vs torch reference >= 2.5x"] == "not met"
  rows = {t: (m, v) for t, m, v in report.targets(_results(1.2, 3.0, beside=False))}
  assert rows[FASTEST] == ("1.20x", "met") and BESIDE not in rows  # older results.json
  lines = report._whole_process(_results(1.3, 2.4)["whole_process"])
  assert "| icl_warm | 19.5 | 3.0 | 19.0 | 1,234 | 1.30 | 4.5 | 1,250 | 1.22 |" in lines
  assert "| torch (threads 1) | 46.8 | - | - | - | - | - | - | - |" in lines
  lines = report._whole_process(_results(1.3, 2.4, beside=False)["whole_process"])
  assert "| icl_warm | 19.5 | 3.0 | 19.0 | - | 1.30 | 4.5 | - | - |" in lines
  assert ("before (1,200), between (1,300) and after (1,333) the icl runs, = 15.0 s"
          in lines[0]), lines[0]
  assert "(walls: 19.5, 20.5 s)" in lines[0], lines[0]


@pytest.mark.slow  # three training processes (~30 s of CPU)
def test_section_runs_end_to_end(tmp_path):
  has_torch = importlib.util.find_spec("torch") is not None
  s = sections.Settings.for_mode(False, steps=200, repeats=1, with_torch=has_torch)
  out = wp.whole_process(s, {}, steps=1500, timeout=300)  # three metrics lines
  warm = out["icl_warm"]
  assert warm["wall_s"] == min(out["icl_warm_walls"]) and len(out["icl_warm_walls"]) == 2
  assert "error" not in warm, warm
  assert 0 < warm["first_metrics_s"] < warm["last_metrics_s"] < warm["wall_s"]
  assert math.isfinite(warm["eval_loss"]) and warm["over_loop"] > 1
  assert out["loop_steps_per_s"] == max(out["loop_before"], *out["loop_between"],
                                        out["loop_after"]) > 0
  # the first run's blocks beside it: the one before it and the one between the runs
  first = min(out["icl_warm_walls"]) == out["icl_warm_walls"][0]
  beside = (out["loop_before"] if first else out["loop_between"][0],
            out["loop_between"][0] if first else out["loop_after"])
  assert warm["loop_beside_steps_per_s"] == pytest.approx(sum(beside) / 2)
  assert warm["over_loop_beside"] == pytest.approx(
      warm["wall_s"] * warm["loop_beside_steps_per_s"] / 1500)
  assert 0 < warm["in_run_steps_per_s"] < 2 * warm["loop_beside_steps_per_s"]
  assert ("icl_vs_torch" in out) == has_torch
