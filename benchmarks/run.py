"""Every speed claim of icl, measured side by side in one process.

  python -m benchmarks.run                    # full run (8-13 min on a 2-core CPU)
  python -m benchmarks.run --quick            # tiny mode (tests/benchmarks)
  python -m benchmarks.run --sections=icl,seeds --out=/tmp/bench

Writes RESULTS.md (tables with machine, versions, date; benchmarks/report.py) and
results.json into --out: by default benchmarks/ (the committed table) for a full
run of every section, and $TMPDIR/icl-benchmarks for a --quick or --sections run,
which would otherwise overwrite the committed table with a partial one.
Alternatives that are compared with each other run in the same process, their
timed blocks interleaved, and each reports the best of `--repeats` blocks
(benchmarks/harness.py): on a shared machine only ratios measured this way are
meaningful.

Sections (benchmarks/sections/, run in sections.ORDER): the default training path
(`core.train_chunk`) for H in {1, 2, 8}, softmax and linear; the same step in a
Python loop with host-side numpy data; a PyTorch eager re-implementation
(benchmarks/torch_reference.py, extra `icl[bench]`) and torch.compile; vmapped
seeds; the sampler alone; probes on/off; the larger token models; achieved FLOP/s
against a measured matmul peak; compile time and the wall time of a cold
`python -m icl.train` to eval MSE <= 0.25; a whole 20k-step `python -m icl.train`
against its loop time and against the reference code's whole run; the token models
beside Zoology's MQAR code and PyTorch peers of the backcopy and instability
loops. A section that raises is recorded as an
error in both files and the command exits with status 1.

Other tools here: `benchmarks.seed_scaling` and `benchmarks.probe_cost` (the
seeds and probes measurements with free batch, H, cadence; same harness) and
`benchmarks.fault_injection` (a reliability check, not a benchmark).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Sequence

from absl import app, flags

from benchmarks import harness, report, sections

FLAGS = flags.FLAGS


def define_flags() -> None:
  """Command-line flags, defined only when run as a program."""
  flags.DEFINE_bool("quick", False, "Tiny mode: few steps, H=2 only, no cold start.")
  flags.DEFINE_string("out", "", "Directory for RESULTS.md and results.json (default: "
                      "benchmarks/ for a full run, $TMPDIR/icl-benchmarks otherwise).")
  flags.DEFINE_integer("steps", 0, "Steps per timed block of the fast paths (0: mode default).")
  flags.DEFINE_integer("repeats", 0, "Timed blocks per case; the best counts (0: mode default).")
  flags.DEFINE_bool("torch", True, "Run the PyTorch baseline (skipped if torch is missing).")
  flags.DEFINE_bool("torch_compile", True, "Also time torch.compile (full mode only).")
  flags.DEFINE_bool("cold_start", True, "Time a cold `python -m icl.train` (full mode only).")
  flags.DEFINE_list("sections", list(sections.ORDER), "Sections to run, of: "
                    + ", ".join(sections.ORDER) + ".")
  flags.DEFINE_string("notes", "", "A line on the machine's state, printed in RESULTS.md.")


def selected(names: Sequence[str] | None) -> list[str]:
  """The requested sections in run order (None: all)."""
  if names is None:
    return list(sections.ORDER)
  unknown = sorted(set(names) - set(sections.SECTIONS))
  if unknown:
    raise ValueError(f"unknown benchmark sections {unknown}; known: {sections.ORDER}")
  return [n for n in sections.ORDER if n in names]


def default_out(quick: bool, names: Sequence[str] | None) -> str:
  """Where a run writes without --out: the committed benchmarks/ only for a full run
  of every section (a quick or partial table must not replace it)."""
  if not quick and selected(names) == list(sections.ORDER):
    return "benchmarks"
  return os.path.join(tempfile.gettempdir(), "icl-benchmarks")


def measure(settings: sections.Settings, names: Sequence[str]) -> dict:
  """{name: rows} of every section in `names` that runs with these settings."""
  results = {}
  for name in names:
    section = sections.SECTIONS[name]
    if section.when(settings):
      results[name] = sections.run_section(section, settings, results)
  return results


def write(results: dict, out_dir: str) -> None:
  os.makedirs(out_dir, exist_ok=True)
  with open(os.path.join(out_dir, "results.json"), "w") as f:
    json.dump(results, f, indent=1, default=float)
  with open(os.path.join(out_dir, "RESULTS.md"), "w") as f:
    f.write(report.render(results))


def run(quick: bool, out_dir: str, steps: int = 0, repeats: int = 0,
        with_torch: bool = True, torch_compile: bool = True,
        with_cold_start: bool = True, notes: str = "",
        section_names: Sequence[str] | None = None) -> dict:
  """Runs the sections, writes results.json and RESULTS.md into `out_dir`.

  Returns:
    The results dict that results.json holds.
  """
  t_start = time.perf_counter()
  settings = sections.Settings.for_mode(quick, steps, repeats, with_torch=with_torch,
                                        torch_compile=torch_compile,
                                        cold_start=with_cold_start)
  results = {"quick": quick, "steps": settings.steps, "repeats": settings.repeats,
             "heads": list(settings.heads), "environment": harness.environment(),
             "notes": notes}
  try:
    results.update(measure(settings, selected(section_names)))
  finally:
    harness.drop_cases()
  results["headline"] = report.headline(results)
  results["targets"] = report.targets(results)
  results["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  results["environment"]["load_avg_end"] = harness.load_average()
  results["wall_s"] = time.perf_counter() - t_start
  results["analysis"] = report.ANALYSIS
  write(results, out_dir)
  return results


def summarize(results: dict, out_dir: str) -> int:
  """Prints the targets and any failed sections; returns the exit status."""
  for a, b, c in results["targets"]:
    print(f"{a}: {b} ({c})")
  print(f"wrote {os.path.join(out_dir, 'RESULTS.md')} in {results['wall_s']:.0f} s")
  failed = report.failed_sections(results)
  if failed:
    print(f"failed sections: {', '.join(failed)} (see RESULTS.md)", file=sys.stderr)
  return 1 if failed else 0


def main(argv):
  del argv
  out = FLAGS.out or default_out(FLAGS.quick, FLAGS.sections)
  results = run(FLAGS.quick, out, FLAGS.steps, FLAGS.repeats, FLAGS.torch,
                FLAGS.torch_compile, FLAGS.cold_start, FLAGS.notes, FLAGS.sections)
  sys.exit(summarize(results, out))


if __name__ == "__main__":
  define_flags()
  app.run(main)
