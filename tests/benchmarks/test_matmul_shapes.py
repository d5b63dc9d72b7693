"""benchmarks/matmul_shapes.py: the dots of a transformer step at a config's shapes,
their FLOP counts by hand, and a tiny measurement."""

import math

import jax

from benchmarks import matmul_shapes
from configs import mqar, instability


def test_shapes_and_flop_counts_by_hand():
  c = instability.get_config()  # B = 32, T = 64, D = 64, H = 2, V = 64
  s = matmul_shapes.shapes(c)
  assert s == {"B": 32, "T": 64, "D": 64, "H": 2, "d_h": 32, "V": 64}
  table = matmul_shapes.cases(s, 128)
  rows = 32 * 64
  expected = {  # name: (output shape, FLOPs: 2 per multiply-add)
      "peak 128^2": ((128, 128), 2 * 128 ** 3),
      "projection": ((rows, 64), 2 * rows * 64 * 64),
      "read-out": ((rows, 64), 2 * rows * 64 * 64),
      "scores": ((64, 64, 64), 2 * 64 * 64 * 64 * 32),  # B*H = 64 of T x d_h @ d_h x T
      "weight grad": ((64, 64), 2 * rows * 64 * 64),
      "weight grad (contiguous lhs)": ((64, 64), 2 * rows * 64 * 64),
  }
  assert set(table) == set(expected)
  for name, (fn, args, flops) in table.items():
    shape, count = expected[name]
    assert jax.eval_shape(fn, *args).shape == shape, name
    assert flops == count, name


def test_a_tiny_measurement_puts_the_peak_first():
  c = mqar.get_config()
  c.train.batch_size, c.task.vocab_size = 4, 32
  rows = matmul_shapes.measure(c, repeats=1, calls=1, peak_n=64)
  assert rows[0]["case"] == "peak 64^2" and rows[0]["of_peak"] == 1.0
  assert len(rows) == 6
  for r in rows:
    assert math.isfinite(r["gflop_per_s"]) and r["gflop_per_s"] > 0
    assert r["of_peak"] == r["gflop_per_s"] / rows[0]["gflop_per_s"]
