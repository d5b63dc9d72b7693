"""The one-model section: a one-seed run's training chunk without vmap (what
`core.train_chunk` runs, through `sharding.over_models`) against the same chunk
vmapped over its one model (what it ran before), blocks interleaved.

Both programs compute the same steps (to float rounding); the unbatched one has no
size-1 batch dimension in its jaxpr, so JAX traces it in a fraction of the time (a
part of every start-up), and XLA:CPU builds it differently. Cases: the default
regression config and MQAR (tiny mode: the tiny regression config); the trace
seconds are one trace of each.
"""

from __future__ import annotations

import time

import jax

from benchmarks import harness
from benchmarks.sections.fusion import block_steps
from benchmarks.sections.registry import Settings, register
from benchmarks.sections.training import token_model_configs
from configs import regression
from icl.train import core, sharding, xla_options

VARIANTS = ("alone", "vmapped")


def _vmapped_chunk(exp, states, data_keys, num_steps):
  """core.train_chunk as it was: jax.vmap over the model axis, also for one model."""
  states, metrics = jax.vmap(
      lambda s, k: exp.train_chunk(s, k, num_steps, 0, None))(states, data_keys)
  return sharding.constrain_models(states, exp.spec), metrics


class Chunk:
  """One config's training chunk (one model), traced and compiled as `variant`
  with the model's XLA:CPU options."""

  def __init__(self, config, steps: int, variant: str):
    self.exp = core.Experiment.from_config(config)
    assert self.exp.spec.num_models == 1, "the section compares one-model programs"
    init_keys, self.data_keys = sharding.put_models(core.seed_keys(config), self.exp.spec)
    self.states = core.init_states(self.exp, init_keys)
    fn = core.train_chunk.__wrapped__ if variant == "alone" else _vmapped_chunk
    jitted = jax.jit(fn, static_argnums=(0, 3), donate_argnums=(1,))
    t0 = time.perf_counter()
    traced = jitted.trace(self.exp, self.states, self.data_keys, steps)
    self.trace_s = time.perf_counter() - t0
    options = xla_options.compiler_options(self.exp.spec.model_entry.cpu_fusion)
    self.compiled = traced.lower().compile(compiler_options=options)

  def block(self) -> None:
    self.states, metrics = self.compiled(self.states, self.data_keys)
    jax.block_until_ready(metrics)


def cases(quick: bool) -> dict:
  if quick:
    return {"regression": regression.get_config("tiny")}
  return {"regression": regression.get_config(), "mqar": token_model_configs()["mqar"]}


@register("one_model")
def one_model(s: Settings, results: dict) -> dict:
  rows = []
  for name, config in cases(s.quick).items():
    steps = block_steps(name, config, 1, s.quick, results)
    chunks = {v: Chunk(config, steps, v) for v in VARIANTS}
    for chunk in chunks.values():
      chunk.block()  # the first run of an executable
    best = harness.interleaved({v: c.block for v, c in chunks.items()}, s.repeats)
    rows.append({"config": name, "steps": steps,
                 **{f"{v}_steps_per_s": steps / best[v] for v in VARIANTS},
                 **{f"{v}_trace_s": c.trace_s for v, c in chunks.items()},
                 "speedup": best["vmapped"] / best["alone"]})
  return {"status": "measured", "rows": rows}
