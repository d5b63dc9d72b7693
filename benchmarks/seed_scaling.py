"""Training throughput of S vmapped seeds vs one seed, in one process.

  python -m benchmarks.seed_scaling [--seeds=1,16] [--steps=200] [--batch=256]

Throughput = prompt-steps per second = steps/s x seeds x batch size (every seed
draws its own `batch` fresh prompts per step). Prints one line per S and the ratio
of the last S to the first. Times `core.train_chunk` (the trainer's jitted scan)
after a compiling warm-up; the best of `repeats` chunks is reported. Run without
XLA_FLAGS device-count overrides to measure the real machine.
"""

from __future__ import annotations

import os

import jax
from absl import app, flags

from configs.regression import get_config
from benchmarks import timing
from icl.train import core, sharding

flags.DEFINE_string("seeds", "1,16", "Seed counts to time (the ratio: last / first).")
flags.DEFINE_integer("steps", 200, "Steps per timed chunk.")
flags.DEFINE_integer("repeats", 3, "Timed chunks (the best is reported).")
flags.DEFINE_integer("batch", 256, "Prompts per step per seed.")
flags.DEFINE_integer("heads", 2, "Attention heads.")
FLAGS = flags.FLAGS


def throughput(num_seeds: int, steps: int, repeats: int, batch: int, heads: int) -> dict:
  config = get_config()
  config.train.num_seeds = num_seeds
  config.train.batch_size = batch
  config.model.num_heads = heads
  exp = core.Experiment.from_config(config)
  init_keys, data_keys = sharding.put_models(core.seed_keys(config), config)
  states = core.init_states(exp, init_keys)
  _, best = timing.time_chunks(exp, states, data_keys, steps, repeats)
  return {"seeds": num_seeds, "steps_per_s": steps / best,
          "prompt_steps_per_s": steps * num_seeds * batch / best}


def main(argv):
  del argv
  print(f"jax {jax.__version__}, {jax.device_count()} {jax.devices()[0].platform} "
        f"device(s), {os.cpu_count()} CPU cores, batch {FLAGS.batch}, H={FLAGS.heads}")
  results = []
  for s in [int(x) for x in FLAGS.seeds.split(",")]:
    r = throughput(s, FLAGS.steps, FLAGS.repeats, FLAGS.batch, FLAGS.heads)
    results.append(r)
    print(f"S={s:3d}: {r['steps_per_s']:8.1f} steps/s  "
          f"{r['prompt_steps_per_s']:12,.0f} prompt-steps/s")
  ratio = results[-1]["prompt_steps_per_s"] / results[0]["prompt_steps_per_s"]
  print(f"throughput ratio S={results[-1]['seeds']} / S={results[0]['seeds']}: "
        f"{ratio:.2f}x")


if __name__ == "__main__":
  app.run(main)
