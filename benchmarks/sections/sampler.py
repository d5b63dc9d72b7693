"""The sampler section: one training batch drawn alone, per bit generator.

One batch is 256 prompts (64k normals), drawn in a scan of `steps` batches with
every array consumed so that XLA cannot skip part of the draw. This makes the
sampler's layout choice (icl/tasks/regression.py) measurable.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp

from benchmarks import harness
from benchmarks.sections.registry import Settings, register

# name: (jax.random key implementation, threefry_partitionable)
VARIANTS = {"threefry, compact layout (icl)": ("threefry2x32", False),  # one draw each
            "threefry, partitionable layout (JAX default)": ("threefry2x32", True),
            "rbg": ("rbg", False), "unsafe_rbg": ("unsafe_rbg", False)}


def batches_fn(task, steps: int, partitionable: bool):
  """A jitted function of a key that draws `steps` batches and sums them."""
  def chunk(key):
    def body(c, t):
      with jax.threefry_partitionable(partitionable):
        b = task._sample(jax.random.fold_in(key, t), 256, None)
      return c + sum(jnp.sum(v) for v in b.values()), None
    return jax.lax.scan(body, jnp.float32(0), jnp.arange(steps))[0]
  return jax.jit(chunk)


@register("sampler")
def sampler(s: Settings, results: dict) -> list[dict]:
  """ms per batch and the first call's time (compile), per generator."""
  del results
  from icl.tasks.regression import RegressionTask
  task = RegressionTask()
  cases, rows = {}, {}
  for name, (impl, partitionable) in VARIANTS.items():
    fn, key = batches_fn(task, s.steps, partitionable), jax.random.key(0, impl=impl)
    t0 = time.perf_counter()
    jax.block_until_ready(fn(key))
    rows[name] = {"generator": name, "first_call_s": time.perf_counter() - t0}
    cases[name] = lambda fn=fn, key=key: jax.block_until_ready(fn(key))
  best = harness.interleaved(cases, s.repeats)
  for name, row in rows.items():
    row["ms_per_batch"] = 1e3 * best[name] / s.steps
  return list(rows.values())
