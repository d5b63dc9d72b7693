"""The XLA:CPU fusion section: training chunks compiled with each YNNPACK fusion
list, blocks interleaved (CPU only).

XLA:CPU hands dots, and by default the reductions next to them, to YNNPACK
subgraphs (XLA's default list: dot + reduce). `individual_dot` hands YNNPACK each
dot alone and leaves elementwise work and reductions to XLA's loop fusions. A model
entry may ask for it (`ModelEntry.cpu_fusion`, icl/train/xla_options.py); no
shipped model does. The same lowered program (`core.train_chunk`'s, without options) is
compiled with and without the option (`compiler_options`, per executable), so both
run in this process. Cases: the regression config at 1 and 16 vmapped seeds, MQAR
and the instability config (two compiles per case; `function_classes` and
`backcopy` measured 0.90x and 0.97x on one-model programs, WORKSPACE_NOTES.md).
"""

from __future__ import annotations

import functools
import time

import jax

from benchmarks import harness
from benchmarks.sections.registry import Settings, measured, register
from benchmarks.sections.training import token_model_configs
from configs import regression
from icl.train import core, sharding, xla_options

BLOCK_SECONDS = 0.3  # each block is cut to about this long
TOKEN_CONFIGS = ("mqar", "instability")  # the others: models table; a compile pair each


# The compiler options of each list (XLA's default: no option, this process's
# XLA_FLAGS, as a user's run has them).
FUSION_OPTIONS = {"individual_dot": {xla_options.YNN_FUSION:
                                     xla_options.FUSION_LISTS["individual_dot"]},
                  "xla_default": {}}


class CompiledChunk:
  """One config's training chunk, traced and compiled ahead of time: `fn` jitted
  (default: core.train_chunk's own jit, called without probes) with
  `compiler_options` (default: the model's, `xla_options.compiler_options`).
  `trace_s`: the seconds of its trace."""

  def __init__(self, config, steps: int, compiler_options: dict | None = None,
               fn=None):
    self.exp = core.Experiment.from_config(config)
    init_keys, self.data_keys = sharding.put_models(core.seed_keys(config), self.exp.spec)
    self.states = core.init_states(self.exp, init_keys)
    if fn is None:  # core.train_chunk's jit of this Experiment, without options
      trace = core.train_chunk.jit(self.exp, compiler_options={}).trace
    else:  # a jit of its own (JAX's caches of a jit of `fn` itself would keep the Experiment)
      trace = jax.jit(functools.partial(fn, self.exp), static_argnums=(2,),
                      donate_argnums=(0,)).trace
    t0 = time.perf_counter()
    traced = trace(self.states, self.data_keys, steps)
    self.trace_s = time.perf_counter() - t0
    if compiler_options is None:
      compiler_options = xla_options.compiler_options(self.exp.spec.model_entry.cpu_fusion)
    self.compiled = traced.lower().compile(compiler_options=compiler_options)
    self.steps = steps

  @property
  def ynn_fusions(self) -> int:
    """YNNPACK subgraphs in the executable: shows which list it was built with."""
    return self.compiled.as_text().count('"kind":"__ynn_fusion"')

  def block(self) -> None:
    self.states, metrics = self.compiled(self.states, self.data_keys)
    jax.block_until_ready(metrics)


def _rate(name: str, seeds: int, results: dict) -> float | None:
  """steps/s an earlier section measured for this case (None: not measured)."""
  if name == "regression":
    rows = [r for r in measured(results, "seeds") or [] if r["seeds"] == seeds]
    return rows[0]["steps_per_s"] if rows else None
  rows = [r for r in (measured(results, "models") or {}).get("rows", [])
          if r.get("config") == name and "steps_per_s" in r]
  return rows[0]["steps_per_s"] if rows else None


def block_steps(name: str, config, seeds: int, quick: bool, results: dict) -> int:
  """Steps of about BLOCK_SECONDS (from an earlier section's steps/s, else timed)."""
  rate = _rate(name, seeds, results)
  if rate is None:
    probe = CompiledChunk(config, 4, FUSION_OPTIONS["xla_default"])
    probe.block()
    t0 = time.perf_counter()
    probe.block()
    rate = 4 / (time.perf_counter() - t0)
  return max(2, min(1000, int((0.1 if quick else BLOCK_SECONDS) * rate)))


def cases(quick: bool) -> dict:
  """{(name, seeds): config}."""
  if quick:
    return {("regression", 1): regression.get_config("tiny")}
  seeded = regression.get_config()
  seeded.train.num_seeds = 16
  tokens = token_model_configs()
  return {("regression", 1): regression.get_config(), ("regression", 16): seeded,
          **{(n, 1): tokens[n] for n in TOKEN_CONFIGS}}


@register("fusion", when=lambda s: jax.default_backend() == "cpu")
def fusion(s: Settings, results: dict) -> dict:
  rows = []
  for (name, seeds), config in cases(s.quick).items():
    steps = block_steps(name, config, seeds, s.quick, results)
    chunks = {f: CompiledChunk(config, steps, options) for f, options in FUSION_OPTIONS.items()}
    for chunk in chunks.values():
      chunk.block()  # the first run of an executable
    best = harness.interleaved({f: c.block for f, c in chunks.items()}, s.repeats)
    entry = chunks["xla_default"].exp.spec.model_entry
    rows.append({"config": name, "seeds": seeds, "steps": steps,
                 "icl_uses": entry.cpu_fusion or "xla_default",
                 **{f"{f}_steps_per_s": steps / best[f] for f in FUSION_OPTIONS},
                 "speedup": best["xla_default"] / best["individual_dot"],
                 "ynn_fusions": {f: c.ynn_fusions for f, c in chunks.items()}})
  return {"status": "measured", "rows": rows}
