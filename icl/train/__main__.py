"""python -m icl.train --config=configs/regression.py --workdir=DIR [--config.x.y=...]

Exit status: 0 done; 2 bad config or work dir; 3 diverged (non-finite loss or
parameter; the last checkpoint is finite); 75 stopped by SIGTERM/SIGINT after a
checkpoint (rerun the same command to resume). See docs/reliability.md.
"""

from __future__ import annotations

from icl import startup

startup.pause()  # until the training loop starts: imports and traces collect nothing

from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from icl import cli, config_lib  # noqa: E402
from icl import workdir as workdir_lib  # noqa: E402

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file(
    "config", None, "Experiment config file, e.g. configs/regression.py[:variant].",
    lock_config=True)
flags.DEFINE_string("workdir", None, "Work directory (created; resumed if it exists).")
flags.DEFINE_bool("multihost", False,
                  "Call jax.distributed.initialize() first (one process per host, "
                  "same command on every host; process 0 writes the work dir).")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  cli.setup_logging()
  if FLAGS.multihost:
    import jax
    try:  # coordinator and process ids from the cluster environment
      jax.distributed.initialize()
    except (ValueError, RuntimeError) as e:
      cli.fail(f"--multihost: jax.distributed.initialize() found no cluster ({e}); run "
               "one process per host under a cluster manager jax detects (SLURM, "
               "Open MPI, a TPU pod)")
  from icl.train import faults, trainer  # after flag parsing: jax imports are slow
  try:
    trainer.train_and_evaluate(FLAGS.config, FLAGS.workdir)
  except (config_lib.ConfigError, workdir_lib.WorkdirError) as e:
    cli.fail(str(e))
  except faults.Diverged as e:
    cli.fail(str(e), code=faults.EXIT_DIVERGED)
  except faults.Preempted as e:
    cli.fail(str(e), code=faults.EXIT_PREEMPTED, prefix="stopped")


if __name__ == "__main__":
  cli.run(main, fast_exit=True)
