"""python -m icl.evaluate --workdir=DIR [--context_lens=10,40] [--num_prompts=N]"""

from __future__ import annotations

from absl import flags, logging

from icl import cli, config_lib
from icl import workdir as workdir_lib

FLAGS = flags.FLAGS


def define_flags() -> None:
  """Command-line flags, defined only when run as a program."""
  flags.DEFINE_string("workdir", None, "Work directory of a training run, or a sweep "
                      "directory (every finished point and a sweep table).")
  flags.DEFINE_string("context_lens", None, "Comma-separated context lengths.")
  flags.DEFINE_integer("num_prompts", None, "Fresh prompts per length (default: config).")


def main(argv):
  del argv
  cli.setup_logging(logging.WARNING)
  if not FLAGS.workdir:
    cli.fail("--workdir is required")
  from icl import evaluate  # after flag parsing: jax imports are slow
  from icl.sweep import report  # a sweep dir: every finished point, then a table
  try:
    lengths = (config_lib.parse_lengths(FLAGS.context_lens)
               if FLAGS.context_lens else None)
    if report.is_sweep_dir(FLAGS.workdir):
      summary = report.evaluate_sweep(
          FLAGS.workdir, lengths, FLAGS.num_prompts,
          on_point=lambda name, result: print(
              f"== {name}\n{evaluate.format_table(result)}\n", flush=True))
      print(report.format_sweep_table(summary["rows"]))
      print(f"sweep table: {summary['path']}")
      return
    result = evaluate.evaluate_workdir(FLAGS.workdir, lengths, FLAGS.num_prompts)
  except (workdir_lib.WorkdirError, config_lib.ConfigError, ValueError) as e:
    cli.fail(str(e))
  except OSError as e:  # e.g. a read-only work dir for eval.json
    cli.fail(f"{e.filename or FLAGS.workdir}: {e.strerror or e}")
  print(evaluate.format_table(result))


if __name__ == "__main__":
  define_flags()
  cli.run(main)
