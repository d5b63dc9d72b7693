"""Training steps/s of the default icl path (scan-fused, data on device).

  python -m benchmarks.train_speed [--heads=1,2,8] [--steps=2000] [--attention=softmax]

Times `core.train_chunk` (the jitted scan the trainer runs) after one warm-up call
that compiles it; prints one line per head count.
"""

from __future__ import annotations


import jax
from absl import app, flags

from configs.regression import get_config
from benchmarks import timing
from icl.train import core

flags.DEFINE_string("heads", "1,2,8", "Head counts to time.")
flags.DEFINE_integer("steps", 2000, "Steps per timed chunk.")
flags.DEFINE_integer("repeats", 3, "Timed chunks (the best is reported).")
flags.DEFINE_string("attention", "softmax", "softmax or linear.")
FLAGS = flags.FLAGS


def steps_per_second(num_heads: int, steps: int, repeats: int,
                     attention: str = "softmax", num_seeds: int = 1) -> dict:
  config = get_config()
  config.model.num_heads = num_heads
  config.model.attention = attention
  config.train.num_seeds = num_seeds
  exp = core.Experiment.from_config(config)
  init_keys, data_keys = core.seed_keys(config)
  states = core.init_states(exp, init_keys)
  first, best = timing.time_chunks(exp, states, data_keys, steps, repeats)
  return {"heads": num_heads, "attention": attention, "num_seeds": num_seeds,
          "steps_per_s": steps / best,
          "compile_s": max(first - best, 0.0)}


def main(argv):
  del argv
  print(f"jax {jax.__version__} on {jax.devices()[0].platform}")
  for h in [int(x) for x in FLAGS.heads.split(",")]:
    r = steps_per_second(h, FLAGS.steps, FLAGS.repeats, FLAGS.attention)
    print(f"H={h} {r['attention']}: {r['steps_per_s']:,.0f} steps/s "
          f"(compile {r['compile_s']:.1f}s)")


if __name__ == "__main__":
  app.run(main)
