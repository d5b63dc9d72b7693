"""The benchmark harness: the tiny mode measures real numbers in every section, a
section that raises is a visible error and a failing exit status, the FLOP model
gives the hand-computed count, and the report writer reproduces the committed
RESULTS.md from the committed results.json."""

import gc
import importlib.util
import json
import math
import os

import pytest

from benchmarks import flops, harness, report, run, sections
from benchmarks.sections import training
from icl import programs
from tests.conftest import REPO, run_cli

STEPS = 20  # tiny mode's block length in these tests
# One forward pass of H = 2, d = 5 (token width D = 6), L = 40, by hand: per head
# 2 * (2 * 6 * 6 + 2 * 40 * 6 + 6) = 1116 matmul FLOPs and 5 * 40 = 200 for the
# softmax, so 2 * 1316 = 2632 per prompt; x 3 (backward) x 256 prompts per step.
H2_FORWARD_PER_PROMPT = 2632
H2_MODEL_FLOPS_PER_STEP = 2632 * 3 * 256  # = 2,021,376


def positive(x) -> bool:
  return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def test_flop_model_matches_hand_count():
  assert flops.forward_flops_per_prompt(2) == H2_FORWARD_PER_PROMPT
  assert flops.analytic_flops_per_step(2) == H2_MODEL_FLOPS_PER_STEP == 2_021_376
  assert flops.analytic_flops_per_step(1) == 1316 * 3 * 256
  assert flops.analytic_flops_per_step(2, batch=1) == 3 * H2_FORWARD_PER_PROMPT


def test_report_reproduces_committed_results():
  bench = os.path.join(REPO, "benchmarks")
  with open(os.path.join(bench, "results.json")) as f:
    results = json.load(f)
  with open(os.path.join(bench, "RESULTS.md")) as f:
    assert report.render(results) == f.read()
  assert report.headline(results) == results["headline"]
  assert [list(t) for t in report.targets(results)] == results["targets"]


def test_quick_run_measures_every_section(tmp_path):
  has_torch = importlib.util.find_spec("torch") is not None
  harness.drop_cases()  # cases an earlier test's direct section call left behind
  gc.collect()
  jits_before = programs.live()
  results = run.run(quick=True, out_dir=str(tmp_path), steps=STEPS, repeats=1,
                    with_torch=has_torch)
  assert report.failed_sections(results) == []
  gc.collect()
  assert programs.live() == jits_before  # the run's cases, and their programs, are gone
  assert [k for k in sections.ORDER if k in results] == [
      "icl", "baselines", "seeds", "sampler", "probes", "models", "fusion", "one_model",
      "flops"]
  assert set(results["section_seconds"]) == {k for k in sections.ORDER if k in results}
  assert all(positive(v) for v in results["section_seconds"].values())

  (icl,) = results["icl"]  # tiny mode: softmax, H = 2
  assert (icl["attention"], icl["heads"]) == ("softmax", 2)
  assert positive(icl["steps_per_s"]) and positive(icl["first_block_s"])
  assert icl["ms_per_step"] == pytest.approx(1e3 / icl["steps_per_s"])

  cases = {r["case"]: r["steps_per_s"] for r in results["baselines"]["rows"]}
  assert positive(cases.pop("icl H=2")) and positive(cases.pop("python loop H=2"))
  if has_torch:
    assert cases and all(k.startswith("torch eager H=2") and positive(v)
                         for k, v in cases.items())
  else:
    assert not cases and "torch" in results["baselines"]["skipped"]
  assert positive(results["headline"]["icl_vs_python_loop_H2"])

  seeds = results["seeds"]
  assert [r["seeds"] for r in seeds] == [1, 4]
  for r in seeds:
    assert positive(r["steps_per_s"]) and r["memory"]["total"] > 0
    assert r["prompt_steps_per_s"] == pytest.approx(r["steps_per_s"] * r["seeds"] * 256)
  assert seeds[0]["speedup_vs_1_seed"] == 1.0
  assert seeds[1]["memory"]["total"] > seeds[0]["memory"]["total"]

  assert len(results["sampler"]) == 4
  assert all(positive(r["ms_per_batch"]) for r in results["sampler"])

  probes = results["probes"]
  assert probes["every"] == math.gcd(100, STEPS)  # the default cadence cut to a block
  assert positive(probes["on_steps_per_s"]) and positive(probes["off_steps_per_s"])

  models = results["models"]["rows"]
  assert [r["config"] for r in models] == sorted(training.token_model_configs())
  assert models and all(positive(r["steps_per_s"]) for r in models)

  (row,) = results["fusion"]["rows"]  # tiny mode: the tiny regression config
  assert (row["config"], row["seeds"], row["icl_uses"]) == ("regression", 1, "xla_default")
  assert row["steps"] >= 2 and positive(row["individual_dot_steps_per_s"])
  assert positive(row["xla_default_steps_per_s"])
  # Both builds hand YNNPACK some subgraphs (whether the tiny regression model's two
  # builds differ depends on the host device count; tests/train/test_xla_options.py
  # checks that the option takes effect).
  assert all(isinstance(n, int) and n > 0 for n in row["ynn_fusions"].values())
  assert row["speedup"] == pytest.approx(
      row["individual_dot_steps_per_s"] / row["xla_default_steps_per_s"])

  (row,) = results["one_model"]["rows"]  # tiny mode: the tiny regression config
  assert row["config"] == "regression" and row["steps"] >= 2
  assert positive(row["alone_steps_per_s"]) and positive(row["vmapped_steps_per_s"])
  assert row["speedup"] == pytest.approx(
      row["alone_steps_per_s"] / row["vmapped_steps_per_s"])
  assert positive(row["alone_trace_s"]) and positive(row["vmapped_trace_s"])

  f = results["flops"]
  assert positive(f["matmul_peak_flop_per_s"])
  (row,) = f["rows"]
  assert row["model_flops_per_step"] == H2_MODEL_FLOPS_PER_STEP
  # XLA also counts the sampler and Adam, so it sees more than the model's FLOPs.
  assert math.isfinite(row["xla_flops_per_step"])
  assert row["xla_flops_per_step"] > row["model_flops_per_step"]
  assert row["fraction_of_peak_model"] == pytest.approx(
      H2_MODEL_FLOPS_PER_STEP * icl["steps_per_s"] / f["matmul_peak_flop_per_s"])

  stored = json.loads((tmp_path / "results.json").read_text())
  report_md = (tmp_path / "RESULTS.md").read_text()
  assert stored["quick"] and stored["environment"]["versions"]["jax"]
  assert report_md == report.render(stored)
  assert "error:" not in report_md and "not run." not in report_md
  for heading in ("Targets", "Default training path", "a Python loop", "Vmapped seeds",
                  "sampler alone", "Probes", "Achieved FLOP/s", "Larger models",
                  "XLA:CPU fusion", "One model without vmap", "sections, wall s"):
    assert heading in report_md, heading


def test_failing_section_is_a_visible_error(tmp_path, monkeypatch):
  def broken(settings, results):
    raise RuntimeError("injected failure")

  monkeypatch.setitem(sections.SECTIONS, "sampler",
                      sections.Section("sampler", broken, lambda s: True))
  # flops needs the icl section's rows, which this run does not measure.
  results = run.run(quick=True, out_dir=str(tmp_path), steps=STEPS, repeats=1,
                    with_torch=False, section_names=["flops", "sampler"])
  assert results["sampler"] == {"status": "error", "error": "RuntimeError: injected failure"}
  assert results["flops"]["status"] == "error" and "'icl'" in results["flops"]["error"]
  assert report.failed_sections(results) == ["sampler", "flops"]
  assert run.summarize(results, str(tmp_path)) == 1
  stored = json.loads((tmp_path / "results.json").read_text())
  assert stored["sampler"]["status"] == "error"
  report_md = (tmp_path / "RESULTS.md").read_text()
  assert "error: RuntimeError: injected failure" in report_md
  with pytest.raises(ValueError, match="unknown benchmark sections"):
    run.selected(["no_such_section"])


def test_cli_exits_nonzero_when_a_section_fails(tmp_path):
  proc = run_cli("benchmarks.run", "--quick", "--sections=flops", f"--out={tmp_path}")
  assert proc.returncode == 1, proc.stderr[-2000:]
  assert "failed sections: flops" in proc.stderr
  assert json.loads((tmp_path / "results.json").read_text())["flops"]["status"] == "error"


def test_only_a_full_run_writes_the_committed_table_by_default():
  assert run.default_out(False, None) == "benchmarks"
  assert run.default_out(False, list(reversed(sections.ORDER))) == "benchmarks"
  for quick, names in ((True, None), (False, ["icl"]), (True, ["icl", "seeds"])):
    out = run.default_out(quick, names)
    assert os.path.abspath(out) != os.path.join(REPO, "benchmarks"), (quick, names)


def test_llc_section_is_full_mode_only_and_rendered_when_measured():
  section = sections.SECTIONS["llc"]
  assert not section.when(sections.Settings.for_mode(True))
  assert section.when(sections.Settings.for_mode(False))
  with open(os.path.join(REPO, "benchmarks", "results.json")) as f:
    results = json.load(f)
  rows = [{"case": "vmapped", "chains": 4, "steps": 100, "first_call_s": 2.0,
           "ms_per_chain_step": 0.5}]
  text = report.render(dict(results, llc=rows))
  assert "## LLC: SGLD chains vmapped vs chain by chain" in text and "| vmapped | 4 |" in text
  without = {k: v for k, v in results.items() if k != "llc"}  # a quick run has no llc
  assert "SGLD" not in report.render(without)
