"""Cost of recording probes in the training loop: probes on vs off, same process.

  python -m benchmarks.probe_cost [--heads=2] [--steps=1000] [--every=1000] [--repeats=3]

Times `core.train_chunk` as the trainer calls it with the default config: a chunk
of train.log_every steps with probes every `--every` steps inside the scan (and the
per-step W_KQ / W_OV recording that snapshot chunks use), against the plain chunk.
Runs alternate (off, on, snapshots) so that load drift on a shared machine hits all
three alike; the best of `--repeats` is reported, as a ratio to the plain chunk.
"""

from __future__ import annotations

import time

import jax
from absl import app, flags

from configs.regression import get_config
from icl.train import core

flags.DEFINE_integer("heads", 2, "Number of heads.")
flags.DEFINE_integer("steps", 1000, "Steps per timed chunk.")
flags.DEFINE_integer("every", 1000, "Probe interval (the default config's probes.every).")
flags.DEFINE_integer("repeats", 3, "Timed chunks per variant (the best is reported).")
FLAGS = flags.FLAGS


def measure(num_heads: int, steps: int, every: int, repeats: int) -> dict:
  config = get_config()
  config.model.num_heads = num_heads
  exp = core.Experiment.from_config(config)
  init_keys, data_keys = core.seed_keys(config)
  states = core.init_states(exp, init_keys)
  variants = {"off": {}, "probes": {"probe_every": every},
              "probes+snapshots": {"probe_every": every, "snapshots": True}}
  best = {name: float("inf") for name in variants}
  for _ in range(repeats + 1):  # the first round compiles
    for name, kwargs in variants.items():
      t0 = time.perf_counter()
      states, metrics = core.train_chunk(exp, states, data_keys, steps, **kwargs)
      jax.block_until_ready(metrics)
      best[name] = min(best[name], time.perf_counter() - t0) if _ else float("inf")
  return {name: steps / t for name, t in best.items()}


def main(argv):
  del argv
  print(f"jax {jax.__version__} on {jax.devices()[0].platform}")
  r = measure(FLAGS.heads, FLAGS.steps, FLAGS.every, FLAGS.repeats)
  for name, rate in r.items():
    print(f"H={FLAGS.heads} {name:>17}: {rate:7.0f} steps/s   time ratio to off: "
          f"{r['off'] / rate:.3f}")


if __name__ == "__main__":
  app.run(main)
