"""python -m icl.sweep --config=configs/sweeps/heads.py[:variant] --workdir=DIR

Expands the sweep config's grid into one work dir per point under DIR, trains the
points that have not finished (resuming partial ones), and writes DIR/summary.csv.
Rerun the same command after an interruption: finished points are skipped
untouched. ``--backend=ray --ray_address=...`` submits the same points to a Ray
cluster. See docs/sweeps.md.
"""

from __future__ import annotations

import sys

from absl import app, flags, logging
from ml_collections import config_flags

from icl import cli, config_lib
from icl import workdir as workdir_lib

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file(
    "config", None, "Sweep config file, e.g. configs/sweeps/heads.py[:quick].",
    lock_config=True)
flags.DEFINE_string("workdir", None, "Sweep directory: one work dir per point inside.")
flags.DEFINE_enum("backend", "local", ["local", "ray"], "Where the points run.")
flags.DEFINE_integer("parallel", 1, "Local backend: points trained at once (processes).")
flags.DEFINE_string("ray_address", "", "Ray cluster address ('' = a local Ray).")
flags.DEFINE_float("ray_num_cpus", 1, "CPUs Ray reserves per point.")
flags.DEFINE_float("ray_num_gpus", 0, "GPUs Ray reserves per point.")
flags.DEFINE_bool("dry_run", False, "List the points and their status, train nothing.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  cli.setup_logging(logging.WARNING)
  from icl.sweep import backends, grid  # after flag parsing: jax imports are slow
  directory = FLAGS.workdir

  def report(name: str, message: str) -> None:
    print(f"[sweep] {name}: {message}", file=sys.stderr, flush=True)

  try:
    if FLAGS.parallel < 1:
      raise grid.SweepError(f"--parallel={FLAGS.parallel} is not allowed; allowed: >= 1")
    points = grid.expand(FLAGS.config)
    grid.prepare_dir(directory, FLAGS.config, points)
    todo = [p for p in points if not grid.is_done(p)]
    for p in points:
      if p not in todo:
        report(p.name, "already done, skipped")
    busy = [p for p in todo if workdir_lib.is_busy(p.workdir)]
    for p in busy:  # another process trains it (a sweep relaunched, two terminals)
      report(p.name, "running in another process, skipped")
    todo = [p for p in todo if p not in busy]
    if FLAGS.dry_run:
      for p in todo:
        report(p.name, "to run")
      errors = {}
    elif FLAGS.backend == "ray":
      errors = backends.run_ray(todo, FLAGS.ray_address, FLAGS.ray_num_cpus,
                                FLAGS.ray_num_gpus, report)
    else:
      errors = backends.run_local(todo, FLAGS.parallel, report)
    path = grid.write_summary(directory, points)
  except (grid.SweepError, config_lib.ConfigError, workdir_lib.WorkdirError) as e:
    cli.fail(str(e))
  failed = [name for name, error in errors.items() if error]
  done = (len(points) - len(todo) if FLAGS.dry_run
          else len(points) - len(failed) - len(busy))
  print(f"[sweep] {done}/{len(points)} points finished; summary: {path}", file=sys.stderr)
  if failed:
    print(f"[sweep] failed: {', '.join(failed)} (rerun the command to retry them)",
          file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
  cli.run(main)
