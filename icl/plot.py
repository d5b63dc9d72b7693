"""python -m icl.plot --workdir=DIR: the figures of a run, as PNGs in DIR/figures/.

  weights.png            per-head W_KQ / W_OV heatmaps at the last snapshot (seed 0)
  weights_evolution.png  the same over training (log-spaced snapshots)
  omega_mu.png           omega_h, mu_h, sum_h mu_h and eta across training
  patterns.png           pattern-probe bars per head at the last probe step
  attention.png          entropy, sink score, max logit, |W_KQ|_2 across training
  sink.png               sink attention / logit per query group and the value norms
                         (tasks with query groups: bigram-backcopy)
  loss_vs_context.png    test MSE vs prompt length (needs eval.json)
  error_vs_examples.png  per-position error / E[y^2] vs in-context examples, the model
                         and the classical baselines, on fresh (and pool) tasks
                         (function-class runs; needs eval.json)
  devinterp.png          the LLC over training beside the loss, the essential-dynamics
                         boundaries and PC trajectories (needs llc.jsonl or
                         essential_dynamics.json: python -m icl.devinterp)

A figure whose data the run lacks (no snapshots, no eval.json, probes off, a model
without the regression pattern probes) is skipped with a log line.

A sweep directory (DIR/sweep.json, python -m icl.sweep) gets every finished point's
figures in DIR/<point>/figures/ and the sweep's own in DIR/figures/:

  metrics_vs_<axis>.png  every final metric (summary.csv) against that grid axis, one
                         line per value of the other axes, seed error bars

(icl/sweep/report.py; missing and unfinished points are skipped with a log line).
"""

from __future__ import annotations

import json
import os

from absl import flags, logging

from icl import cli
from icl import figures as figure_lib
from icl import workdir as workdir_lib

FIGURES = "figures"

FLAGS = flags.FLAGS


def define_flags() -> None:
  """Command-line flags, defined only when run as a program (so that importing this
  module next to other icl tools defines no global flags)."""
  flags.DEFINE_string("workdir", None,
                      "Work directory of a training run, or a sweep directory.")
  flags.DEFINE_integer("seed_index", 0, "Which seed's weights the heatmaps show.")
  flags.DEFINE_integer("dpi", 110, "Resolution of the PNGs.")


def make_figures(workdir: str, seed_index: int = 0) -> dict:
  """{file name: Figure} for every figure the work dir has data for."""
  from icl.probes import snapshots as snapshots_lib
  config = workdir_lib.read_config(workdir)
  records = workdir_lib.read_metrics(workdir)
  if not records:
    raise workdir_lib.WorkdirError(f"work dir {workdir!r} has an empty metrics.jsonl "
                                   "(training has not finished a chunk yet)")
  d = config.task.get("dim", 0)
  figures = {}
  snapshots = snapshots_lib.read_snapshots(workdir)
  if snapshots and "W_KQ" in snapshots[0][1]:
    seed = min(seed_index, snapshots[0][1]["W_KQ"].shape[0] - 1)
    snaps = [(s, a["W_KQ"][seed], a["W_OV"][seed]) for s, a in snapshots]
    step, w_kq, w_ov = snaps[-1]
    figures["weights.png"] = figure_lib.weight_heatmaps(
        w_kq, w_ov, d, f"merged weights at step {step} (seed {seed})")
    figures["weights_evolution.png"] = figure_lib.weight_evolution(
        snaps, d, title=f"$W_{{KQ}}$ and $W_{{OV}}$ over training (seed {seed})")
  else:
    logging.info("no snapshots in %s: skipping the weight heatmaps", workdir)
  probe_records = [r for r in records if any(k.startswith("probe/") for k in r)]
  if probe_records and figure_lib.probe_keys(probe_records, "omega"):
    figures["omega_mu.png"] = figure_lib.omega_mu(probe_records)
    figures["patterns.png"] = figure_lib.pattern_bars(probe_records[-1])
  if probe_records and figure_lib.probe_keys(probe_records, "attn_entropy"):
    figures["attention.png"] = figure_lib.attention_curves(probe_records)
  if probe_records and figure_lib.sink_groups(probe_records):
    figures["sink.png"] = figure_lib.sink_dynamics(probe_records)
  if not probe_records:
    logging.info("no probes in %s (probes.every = 0?): skipping probe curves", workdir)
  eval_path = os.path.join(workdir, workdir_lib.EVAL)
  if os.path.exists(eval_path):
    with open(eval_path) as f:
      eval_result = json.load(f)
    if eval_result.get("curves"):  # a function-class run: error vs examples
      figures["error_vs_examples.png"] = figure_lib.error_vs_examples(
          eval_result["curves"], f"{config.task.get('name')}, d = {d} "
          f"(step {eval_result.get('step')})")
    elif eval_result.get("context_len"):  # a token task has no lengths to draw
      figures["loss_vs_context.png"] = figure_lib.loss_vs_context(
          eval_result, config.task.get("context_len"))
  else:
    logging.info("no eval.json in %s (python -m icl.evaluate): skipping loss vs L",
                 workdir)
  from icl import devinterp
  llc, ed = devinterp.read_llc(workdir), devinterp.read_essential_dynamics(workdir)
  if llc or ed is not None:
    figures["devinterp.png"] = figure_lib.devinterp(llc, records, ed)
  return figures


def plot_workdir(workdir: str, seed_index: int = 0, dpi: int = 110) -> list[str]:
  """Writes every figure into <workdir>/figures/; returns the paths."""
  import matplotlib.pyplot as plt
  figures = make_figures(workdir, seed_index)
  out_dir = os.path.join(workdir, FIGURES)
  os.makedirs(out_dir, exist_ok=True)
  paths = []
  for name, fig in figures.items():
    path = os.path.join(out_dir, name)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    paths.append(path)
  return paths


def main(argv):
  del argv
  cli.setup_logging(logging.WARNING)
  if not FLAGS.workdir:
    cli.fail("--workdir is required")
  from icl.sweep import report
  try:
    if report.is_sweep_dir(FLAGS.workdir):
      paths, _ = report.plot_sweep(FLAGS.workdir, plot_workdir, FLAGS.seed_index,
                                   FLAGS.dpi)
    else:
      paths = plot_workdir(FLAGS.workdir, FLAGS.seed_index, FLAGS.dpi)
  except (workdir_lib.WorkdirError, OSError, KeyError, ValueError) as e:
    cli.fail(str(e))
  for path in paths:
    print(path)


if __name__ == "__main__":
  define_flags()
  cli.run(main)
