"""The achieved-FLOP/s section: the default path's steps/s against a matmul peak.

Two counts per step: XLA's `cost_analysis()` of the compiled single-seed
`train_step` (sampler and Adam included) and the analytic model count of
benchmarks/flops.py. Both are multiplied by the steps/s the "icl" section measured
and divided by the measured float32 matmul peak.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from benchmarks import harness
from benchmarks.flops import analytic_flops_per_step
from benchmarks.sections.registry import Settings, register, required
from icl.train import core


def matmul_peak(n: int, repeats: int) -> float:
  """FLOP/s of an n x n float32 `a @ a` under jit, best of `repeats`."""
  a = jnp.ones((n, n), jnp.float32)
  mm = jax.jit(lambda a: a @ a)
  jax.block_until_ready(mm(a))
  best = harness.interleaved({"mm": lambda: jax.block_until_ready(mm(a))}, repeats)["mm"]
  return 2 * n ** 3 / best


def xla_flops_per_step(heads: int) -> float:
  """cost_analysis()['flops'] of the compiled single-seed train_step."""
  exp = core.Experiment.from_config(harness.config_for(heads))
  state = jax.jit(exp.init_state)(jax.random.key(0))
  compiled = jax.jit(exp.train_step).lower(state, jax.random.key(1)).compile()
  return float(compiled.cost_analysis().get("flops", float("nan")))


@register("flops")
def achieved_flops(s: Settings, results: dict) -> dict:
  """Needs results["icl"] (the softmax rows' steps/s)."""
  icl_rows = required(results, "icl")
  n = 512 if s.quick else 1024
  peak = matmul_peak(n, 5 if s.quick else 20)
  rows = []
  for r in icl_rows:
    if r["attention"] != "softmax":
      continue
    xla, model = xla_flops_per_step(r["heads"]), analytic_flops_per_step(r["heads"])
    rows.append({"heads": r["heads"], "xla_flops_per_step": xla,
                 "model_flops_per_step": model,
                 "xla_flop_per_s": xla * r["steps_per_s"],
                 "model_flop_per_s": model * r["steps_per_s"],
                 "fraction_of_peak_xla": xla * r["steps_per_s"] / peak,
                 "fraction_of_peak_model": model * r["steps_per_s"] / peak})
  return {"matmul_n": n, "matmul_peak_flop_per_s": peak, "rows": rows}
