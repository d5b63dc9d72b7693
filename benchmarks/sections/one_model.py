"""The one-model section: a one-seed run's training chunk without vmap (what
`core.train_chunk` runs, through `sharding.over_models`) against the same chunk
vmapped over its one model (what it ran before), blocks interleaved.

Both programs compute the same steps (to float rounding); the unbatched one has no
size-1 batch dimension in its jaxpr, so JAX traces it in a fraction of the time (a
part of every start-up), and XLA:CPU builds it differently. Cases: the default
regression config and MQAR (tiny mode: the tiny regression config); the trace
seconds are one trace of each (both with the model's XLA:CPU options).
"""

from __future__ import annotations

import jax

from benchmarks import harness
from benchmarks.sections.fusion import CompiledChunk, block_steps
from benchmarks.sections.registry import Settings, register
from benchmarks.sections.training import token_model_configs
from configs import regression
from icl.train import sharding

VARIANTS = ("alone", "vmapped")


def _vmapped_chunk(exp, states, data_keys, num_steps):
  """core.train_chunk as it was: jax.vmap over the model axis, also for one model."""
  states, metrics = jax.vmap(
      lambda s, k: exp.train_chunk(s, k, num_steps, 0, None))(states, data_keys)
  return sharding.constrain_models(states, exp.spec), metrics


def cases(quick: bool) -> dict:
  if quick:
    return {"regression": regression.get_config("tiny")}
  return {"regression": regression.get_config(), "mqar": token_model_configs()["mqar"]}


@register("one_model")
def one_model(s: Settings, results: dict) -> dict:
  rows = []
  for name, config in cases(s.quick).items():
    steps = block_steps(name, config, 1, s.quick, results)
    assert config.train.num_seeds == 1, "the section compares one-model programs"
    chunks = {"alone": CompiledChunk(config, steps),  # what core.train_chunk runs
              "vmapped": CompiledChunk(config, steps, fn=_vmapped_chunk)}
    for chunk in chunks.values():
      chunk.block()  # the first run of an executable
    best = harness.interleaved({v: c.block for v, c in chunks.items()}, s.repeats)
    rows.append({"config": name, "steps": steps,
                 **{f"{v}_steps_per_s": steps / best[v] for v in VARIANTS},
                 **{f"{v}_trace_s": c.trace_s for v, c in chunks.items()},
                 "speedup": best["vmapped"] / best["alone"]})
  return {"status": "measured", "rows": rows}
