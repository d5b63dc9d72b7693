"""The float32 matmuls of a transformer step at its own shapes, against the n x n peak.

  python -m benchmarks.matmul_shapes [--config=mqar] [--repeats=7] [--quick]

What bounds the token models' FLOP/s on a CPU (benchmarks/RESULTS.md, "What bounds
the remaining gap"): the achieved rate of each kind of dot the step runs, jitted
alone on random inputs, at the sizes of a shipped config (`configs/<name>.py`, its
default variant): B = batch, T = sequence length, D = width, H heads of d_h = D / H,
V = vocabulary.

  projection      [B*T, D] @ [D, D]        q, k, v, o and their input gradients
  read-out        [B*T, D] @ [D, V]        logits (all positions)
  scores          [B*H: T x d_h @ d_h x T] attention scores and their gradients
  weight grad     [B*T, D]^T @ [B*T, D]    the gradient of each D x D kernel
  weight grad (contiguous lhs)             the same with [D, B*T] stored row-major

Each is timed in blocks of `calls` calls, interleaved with the others and the n x n
peak (`benchmarks/harness.py`), the best block of `--repeats` counting.
"""

from __future__ import annotations

import importlib

import jax
import jax.numpy as jnp
from absl import app, flags

from benchmarks import harness

FLAGS = flags.FLAGS


def define_flags() -> None:
  """Command-line flags, defined only when run as a program."""
  flags.DEFINE_string("config", "mqar", "A configs/<name>.py with a transformer model.")
  flags.DEFINE_integer("repeats", 7, "Timed blocks per case (the best counts).")
  flags.DEFINE_bool("quick", False, "Tiny sizes and few calls (for tests).")


def shapes(config) -> dict[str, int]:
  """B, T, D, H, d_h, V of a token config (ConfigDict)."""
  model, task = config.model, config.task
  return {"B": config.train.batch_size, "T": task.seq_len, "D": model.d_model,
          "H": model.num_heads, "d_h": model.d_model // model.num_heads,
          "V": task.vocab_size}


def cases(s: dict[str, int], peak_n: int) -> dict[str, tuple]:
  """{name: (fn, args, FLOPs per call)}: multiply-add = 2 FLOPs."""
  key = iter(jax.random.split(jax.random.key(0), 8))
  normal = lambda *shape: jax.random.normal(next(key), shape, jnp.float32)
  rows = s["B"] * s["T"]
  x, w, r = normal(rows, s["D"]), normal(s["D"], s["D"]), normal(s["D"], s["V"])
  q = normal(s["B"] * s["H"], s["T"], s["d_h"])
  xt = jnp.asarray(x.T)  # a row-major [D, B*T]
  big = normal(peak_n, peak_n)
  return {
      f"peak {peak_n}^2": (lambda a: a @ a, (big,), 2 * peak_n ** 3),
      "projection": (lambda a, b: a @ b, (x, w), 2 * rows * s["D"] ** 2),
      "read-out": (lambda a, b: a @ b, (x, r), 2 * rows * s["D"] * s["V"]),
      "scores": (lambda a, b: jnp.einsum("bqd,bkd->bqk", a, b), (q, q),
                 2 * s["B"] * s["H"] * s["T"] ** 2 * s["d_h"]),
      "weight grad": (lambda a, b: a.T @ b, (x, x), 2 * rows * s["D"] ** 2),
      "weight grad (contiguous lhs)": (lambda a, b: a @ b, (xt, x), 2 * rows * s["D"] ** 2),
  }


def measure(config, repeats: int, calls: int = 50, peak_n: int = 1024) -> list[dict]:
  """Rows {case, shape, gflop_per_s, of_peak}, the peak first."""
  table = cases(shapes(config), peak_n)
  jitted = {name: (jax.jit(fn), args) for name, (fn, args, _) in table.items()}
  for fn, args in jitted.values():
    jax.block_until_ready(fn(*args))  # compile outside the timing

  def block(fn, args):
    def run():
      for _ in range(calls):
        out = fn(*args)
      jax.block_until_ready(out)
    return run

  best = harness.interleaved({n: block(*jitted[n]) for n in table}, repeats)
  rates = {n: table[n][2] * calls / best[n] / 1e9 for n in table}
  peak = rates[next(iter(table))]
  return [{"case": n, "shape": " x ".join(str(list(a.shape)) for a in table[n][1]),
           "gflop_per_s": rates[n], "of_peak": rates[n] / peak} for n in table]


def main(argv):
  del argv
  config = importlib.import_module(f"configs.{FLAGS.config}").get_config()
  if FLAGS.quick:
    config.train.batch_size, config.task.vocab_size = 4, 32
  rows = measure(config, 2 if FLAGS.quick else FLAGS.repeats,
                 calls=2 if FLAGS.quick else 50, peak_n=128 if FLAGS.quick else 1024)
  print(f"jax {jax.__version__} on {jax.devices()[0].platform}; config {FLAGS.config}: "
        + ", ".join(f"{k} = {v}" for k, v in shapes(config).items()))
  print("| dot | operands | GFLOP/s | of the peak |\n|---|---|---|---|")
  for r in rows:
    print(f"| {r['case']} | {r['shape']} | {r['gflop_per_s']:.0f} | {r['of_peak']:.0%} |")


if __name__ == "__main__":
  define_flags()
  app.run(main)
