"""The benchmark harness runs end to end in --quick mode and writes its report."""

import importlib.util
import json
import os

from benchmarks import run


def test_quick_harness_writes_results(tmp_path):
  has_torch = importlib.util.find_spec("torch") is not None
  results = run.run(quick=True, out_dir=str(tmp_path), steps=20, repeats=1,
                    with_torch=has_torch)
  report = (tmp_path / "RESULTS.md").read_text()
  stored = json.loads((tmp_path / "results.json").read_text())
  assert stored["quick"] and stored["environment"]["versions"]["jax"]
  for section in ("Targets", "Default training path", "a Python loop", "Vmapped seeds",
                  "Probes", "Achieved FLOP/s", "Larger models"):
    assert section in report, section
  cases = {r["case"]: r["steps_per_s"] for r in results["baselines"]["rows"]}
  assert cases["icl H=2"] > 0 and cases["python loop H=2"] > 0
  if has_torch:
    assert any(k.startswith("torch eager H=2") for k in cases)
  else:
    assert "torch" in results["baselines"]["skipped"]
  assert [r["seeds"] for r in results["seeds"]] == [1, 4]
  assert all(r["memory"]["total"] > 0 for r in results["seeds"])
  assert results["flops"]["matmul_peak_flop_per_s"] > 0
  # Probes and token models are rows that fill in once those branches land.
  assert results["probes"]["status"] in ("measured", "pending")
  assert results["models"]["status"] in ("measured", "pending")
  assert os.path.getsize(tmp_path / "RESULTS.md") > 500
