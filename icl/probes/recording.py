"""Probes recorded inside the jitted training loop (pure functions of one seed).

`compute(ctx, params)` runs every probe of one seed as a pure function (weight
probes + activation probes on a fixed probe batch), so it can sit inside
`lax.scan`: `scan_with_probes` runs an outer scan over probe intervals of
`probe_every` steps with the plain step scan inside, and returns the probes stacked
[num_steps // probe_every]. With snapshot offsets, the merged W_KQ / W_OV after the
chunk's log-spaced snapshot steps come back too, in a fixed number of slots.

`ctx` is a `ProbeContext`: what probes read (the forward pass, the task, the model's
name and config, the probe batch's seed and size), never the trainer. The host side
lives elsewhere: cadences in `schedule.py`, snapshot files in `snapshots.py`,
metrics.jsonl fields in `icl.records`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp

from icl import programs
from icl.probes import attention, gd_alignment, weights

PROBE_KEY = 0x9B0BE  # fold_in salt of the probe batch's key
PyTree = Any


@dataclasses.dataclass(frozen=True)
class ProbeContext:
  """What the probes of one run read (hashable: a static jit argument).

  apply:        (params, batch, *capture types) -> (prediction, *captured states)
  task:         the task (its hooks `query_groups`, `probe_subset`, ...)
  model_name:   the model's registry name (for its merged weights)
  model:        the model's config dataclass
  seed:         the run's seed (the probe batch's key)
  num_prompts:  prompts in the fixed probe batch
  """

  apply: Callable
  task: Any
  model_name: str
  model: Any
  seed: int
  num_prompts: int


def probe_batch(ctx: ProbeContext):
  """The fixed probe batch: `num_prompts` prompts from a key that depends only on
  the run's seed (the same batch at every probe step and for every seed)."""
  key = jax.random.fold_in(jax.random.key(ctx.seed), PROBE_KEY)
  return ctx.task.sample(key, ctx.num_prompts)


def compute(ctx: ProbeContext, params: PyTree) -> dict[str, jax.Array]:
  """Every probe of one seed's params: a flat dict name -> [H] or [] (pure)."""
  out = weights.weight_probes(ctx.model_name, params, ctx.task, ctx.model)
  batch = probe_batch(ctx)
  _, w, lg, v = ctx.apply(params, batch, *attention.CAPTURES)
  if gd_alignment.applies(ctx.model_name, ctx.task):
    out.update(gd_alignment.probes(ctx, params, batch))
  out.update(attention.attention_probes(w, lg, v, query_groups=ctx.task.query_groups(batch),
                                        subset=ctx.task.probe_subset))
  return out


def snapshot_weights(ctx: ProbeContext, params: PyTree) -> dict[str, jax.Array]:
  """{'W_KQ': [H, D, D], 'W_OV': [H, D]} (one layer) or {'l0/W_KQ': ...} (several)."""
  layers = weights.merged_weights(ctx.model_name, params, ctx.model)
  prefix = (lambda name: "") if len(layers) == 1 else (lambda name: name + "/")
  out = {}
  for name, (w_kq, w_ov) in layers.items():
    out[prefix(name) + "W_KQ"], out[prefix(name) + "W_OV"] = w_kq, w_ov
  return out


def scan_with_probes(ctx: ProbeContext, body: Callable, state: PyTree, num_steps: int,
                     probe_every: int, snap_offsets: jax.Array | None = None
                     ) -> tuple[PyTree, dict]:
  """`body` (the step scan's body) scanned `num_steps` times, with `compute` after
  every `probe_every` steps (0: none; must divide num_steps) and, with
  `snap_offsets` (int [S]: 1-based step offsets in the chunk, -1 = an unused slot),
  the merged weights after those steps. Metrics: per-step values [num_steps],
  "probes" [num_steps // probe_every], "snapshot" [S] (slot j after step
  snap_offsets[j]; an unused slot holds zeros).

  The offsets are traced, not static: every chunk of a run, with or without
  snapshot steps, runs one program, and memory holds S snapshots, not one per step.
  The write sits under a `lax.cond` on the scan's own step counter, which vmap over
  models leaves unbatched, so the merged weights are computed only at those steps.
  """
  snap = snap_offsets is not None
  if snap:
    zeros = jax.tree.map(lambda a: jnp.zeros(snap_offsets.shape + a.shape, a.dtype),
                         jax.eval_shape(lambda p: snapshot_weights(ctx, p), state["params"]))

  def step(carry, t):
    s, buf = carry
    s, m = body(s, None)
    if snap:
      hit = snap_offsets == t + 1  # [S]: the slot of the step just taken

      def write(b):
        j = jnp.argmax(hit)
        return jax.tree.map(lambda bb, w: bb.at[j].set(w), b,
                            snapshot_weights(ctx, s["params"]))
      buf = jax.lax.cond(jnp.any(hit), write, lambda b: b, buf)
    return (s, buf), m

  init = (state, zeros if snap else None)
  steps = jnp.arange(num_steps, dtype=jnp.int32)
  if not probe_every:
    (state, buf), metrics = jax.lax.scan(step, init, steps)
  else:
    def interval(carry, ts):
      carry, m = jax.lax.scan(step, carry, ts)
      return carry, (m, compute(ctx, carry[0]["params"]))

    (state, buf), (metrics, probes) = jax.lax.scan(
        interval, init, steps.reshape(num_steps // probe_every, probe_every))
    metrics = jax.tree.map(lambda a: a.reshape((num_steps,) + a.shape[2:]), metrics)
    metrics = {**metrics, "probes": probes}
  return state, ({**metrics, "snapshot": buf} if snap else metrics)


@programs.per_run
def compute_states(ctx: ProbeContext, params: PyTree) -> dict[str, jax.Array]:
  """`compute` for every model: params [M, ...] -> probes [M, ...]."""
  return jax.vmap(lambda p: compute(ctx, p))(params)


@programs.per_run
def snapshot_states(ctx: ProbeContext, params: PyTree) -> dict[str, jax.Array]:
  """`snapshot_weights` for every model: params [M, ...] -> [M, ...]."""
  return jax.vmap(lambda p: snapshot_weights(ctx, p))(params)
