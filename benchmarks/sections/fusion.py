"""The XLA:CPU fusion section: every shipped config's training chunk compiled with
icl's XLA:CPU flags (`icl.CPU_XLA_FLAGS`, in XLA_FLAGS since `import icl`) and with
XLA's own default YNNPACK fusion list, blocks interleaved (CPU only).

XLA:CPU hands dots (and, by default, the reductions next to them) to YNNPACK
subgraphs. icl asks for each dot on its own (`individual_dot`), leaving elementwise
work and reductions to XLA's loop fusions. The same lowered program is compiled
twice; `compiler_options` sets the list per executable, so both run in this process.
XLA's default list is dot + reduce (the fusions of a program compiled without the
flag are those of this list).
"""

from __future__ import annotations

import os
import time

import jax

from benchmarks import harness
from benchmarks.sections.registry import Settings, is_error, register
from benchmarks.sections.training import token_model_configs
from configs import regression
from icl.train import core, sharding

OPTION = "xla_cpu_experimental_ynn_fusion_type"
XLA_DEFAULT = "LIBRARY_FUSION_TYPE_DOT,LIBRARY_FUSION_TYPE_REDUCE"
BLOCK_SECONDS = 0.5  # each block is cut to about this long


class CompiledChunk:
  """One config's training chunk compiled with the process's flags (options None) or
  with `{OPTION: options}`."""

  def __init__(self, config, steps: int, options: str | None):
    self.exp = core.Experiment.from_config(config)
    init_keys, self.data_keys = sharding.put_models(core.seed_keys(config), self.exp.spec)
    self.states = core.init_states(self.exp, init_keys)
    lowered = core.train_chunk.lower(self.exp, self.states, self.data_keys, steps)
    self.compiled = lowered.compile(compiler_options={OPTION: options} if options else {})
    self.steps = steps
    # YNNPACK subgraphs in the executable: shows which fusion list it was built with.
    self.ynn_fusions = self.compiled.as_text().count('"kind":"__ynn_fusion"')

  def block(self) -> None:
    self.states, metrics = self.compiled(self.states, self.data_keys)
    jax.block_until_ready(metrics)


def block_steps(name: str, config, quick: bool, results: dict) -> int:
  """Steps of about BLOCK_SECONDS for this config: from the steps/s the "models" (or,
  for regression, "icl") section measured, else timed here on a short chunk."""
  seconds = 0.1 if quick else BLOCK_SECONDS
  rates = {r["config"]: r["steps_per_s"]
           for r in (_ok(results, "models") or {}).get("rows", []) if "steps_per_s" in r}
  rates.update({"regression": r["steps_per_s"] for r in _ok(results, "icl") or []
                if (r["attention"], r["heads"]) == ("softmax", config.model.num_heads)})
  if name in rates:
    per_step = 1.0 / rates[name]
  else:
    probe = CompiledChunk(config, 4, None)
    probe.block()
    t0 = time.perf_counter()
    probe.block()
    per_step = (time.perf_counter() - t0) / 4
  return max(2, min(1000, int(seconds / per_step)))


def _ok(results: dict, key: str):
  value = results.get(key)
  return None if value is None or is_error(value) else value


def configs(quick: bool) -> dict:
  if quick:
    return {"regression:tiny": regression.get_config("tiny")}
  return {"regression": regression.get_config(), **token_model_configs()}


@register("fusion", when=lambda s: jax.default_backend() == "cpu")
def fusion(s: Settings, results: dict) -> dict:
  rows = []
  for name, config in configs(s.quick).items():
    steps = block_steps(name, config, s.quick, results)
    cases = {"icl": CompiledChunk(config, steps, None),
             "xla_default": CompiledChunk(config, steps, XLA_DEFAULT)}
    for case in cases.values():
      case.block()  # the first run of an executable
    best = harness.interleaved({n: c.block for n, c in cases.items()}, s.repeats)
    rows.append({"config": name, "steps": steps,
                 "icl_steps_per_s": steps / best["icl"],
                 "xla_default_steps_per_s": steps / best["xla_default"],
                 "speedup": best["xla_default"] / best["icl"],
                 "ynn_fusions": {n: c.ynn_fusions for n, c in cases.items()}})
  return {"status": "measured", "flags": os.environ.get("XLA_FLAGS", ""),
          "rows": rows}
