"""Cost of recording probes in the training loop: probes on vs off, same process.

  python -m benchmarks.probe_cost [--heads=2] [--steps=1000] [--every=1000] [--repeats=3]

Times `core.train_chunk` as the trainer calls it: a chunk of `--steps` steps with
probes every `--every` steps inside the scan (and, as a third variant, W_KQ / W_OV
snapshots after the chunk's log-spaced steps, as many as the first chunk of a
default 20k-step run holds), against the plain chunk.
Unlike the "probes" section of `python -m benchmarks.run`, H, the cadence and the
snapshot variant are free; the measuring is the same (benchmarks/harness.py: the
variants' blocks interleaved, the best of `--repeats`), reported as a ratio to the
plain chunk.
"""

from __future__ import annotations

import jax
from absl import app, flags

from benchmarks import harness
from icl.probes import schedule

FLAGS = flags.FLAGS

# name: (probes every --every steps, per-step weight snapshots)
VARIANTS = {"off": (False, False), "probes": (True, False),
            "probes+snapshots": (True, True)}


def define_flags() -> None:
  """Command-line flags, defined only when run as a program."""
  flags.DEFINE_integer("heads", 2, "Number of heads.")
  flags.DEFINE_integer("steps", 1000, "Steps per timed chunk.")
  flags.DEFINE_integer("every", 1000, "Probe interval (must divide --steps).")
  flags.DEFINE_integer("repeats", 3, "Timed chunks per variant (the best is reported).")


def measure(num_heads: int, steps: int, every: int, repeats: int) -> dict[str, float]:
  """{variant: steps/s} for the plain chunk, probes, probes + snapshots."""
  config = harness.config_for(num_heads)
  first = [s for s in schedule.snapshot_steps(20_000, config.probes.snapshots) if 0 < s <= steps]
  cases = {name: harness.IclCase(config, steps, probe_every=every if probes else 0,
                                 snap_offsets=tuple(first) if snapshots else ())
           for name, (probes, snapshots) in VARIANTS.items()}
  best = harness.interleaved({n: c.block for n, c in cases.items()}, repeats)
  return {name: steps / t for name, t in best.items()}


def main(argv):
  del argv
  print(f"jax {jax.__version__} on {jax.devices()[0].platform}")
  r = measure(FLAGS.heads, FLAGS.steps, FLAGS.every, FLAGS.repeats)
  for name, rate in r.items():
    print(f"H={FLAGS.heads} {name:>17}: {rate:7.0f} steps/s   time ratio to off: "
          f"{r['off'] / rate:.3f}")


if __name__ == "__main__":
  define_flags()
  app.run(main)
