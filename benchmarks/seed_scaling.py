"""Training throughput of S vmapped seeds vs one seed, in one process.

  python -m benchmarks.seed_scaling [--seeds=1,16] [--steps=200] [--batch=256]

Throughput = prompt-steps per second = steps/s x seeds x batch size (every seed
draws its own `batch` fresh prompts per step). Prints one line per S and the ratio
of the last S to the first. Unlike the "seeds" section of `python -m
benchmarks.run`, the batch, H and the block length are free; the measuring is the
same (benchmarks/harness.py: `core.train_chunk` after a compiling first block, the
blocks of all S interleaved, the best of `repeats`). Run without XLA_FLAGS
device-count overrides to measure the real machine.
"""

from __future__ import annotations

import os

import jax
from absl import app, flags

from benchmarks import harness

FLAGS = flags.FLAGS


def define_flags() -> None:
  """Command-line flags, defined only when run as a program."""
  flags.DEFINE_list("seeds", ["1", "16"], "Seed counts to time (the ratio: last / first).")
  flags.DEFINE_integer("steps", 200, "Steps per timed chunk.")
  flags.DEFINE_integer("repeats", 3, "Timed chunks (the best is reported).")
  flags.DEFINE_integer("batch", 256, "Prompts per step per seed.")
  flags.DEFINE_integer("heads", 2, "Attention heads.")


def throughput(seed_counts: list[int], steps: int, repeats: int, batch: int,
               heads: int) -> list[dict]:
  """steps/s and prompt-steps/s for each S, blocks interleaved."""
  cases = {s: harness.IclCase(harness.config_for(heads, seeds=s, batch_size=batch), steps)
           for s in seed_counts}
  best = harness.interleaved({s: c.block for s, c in cases.items()}, repeats)
  return [{"seeds": s, "steps_per_s": steps / best[s],
           "prompt_steps_per_s": steps * s * batch / best[s]} for s in seed_counts]


def main(argv):
  del argv
  print(f"jax {jax.__version__}, {jax.device_count()} {jax.devices()[0].platform} "
        f"device(s), {os.cpu_count()} CPU cores, batch {FLAGS.batch}, H={FLAGS.heads}")
  results = throughput([int(x) for x in FLAGS.seeds], FLAGS.steps, FLAGS.repeats,
                       FLAGS.batch, FLAGS.heads)
  for r in results:
    print(f"S={r['seeds']:3d}: {r['steps_per_s']:8.1f} steps/s  "
          f"{r['prompt_steps_per_s']:12,.0f} prompt-steps/s")
  ratio = results[-1]["prompt_steps_per_s"] / results[0]["prompt_steps_per_s"]
  print(f"throughput ratio S={results[-1]['seeds']} / S={results[0]['seeds']}: "
        f"{ratio:.2f}x")


if __name__ == "__main__":
  define_flags()
  app.run(main)
