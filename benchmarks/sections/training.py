"""Sections that time icl's own training path (`core.train_chunk`).

- icl: the default path for each H and attention kind, one seed, batch 256;
- seeds: S vmapped seeds, with prompt-steps/s and XLA's compiled memory;
- probes: the default config with probes recorded inside the scan vs without;
- models: the larger token models of the other configs (parity / recall tasks).
"""

from __future__ import annotations

import glob
import importlib
import math
import os

from benchmarks import harness
from benchmarks.sections.registry import Settings, register


@register("icl")
def default_path(s: Settings, results: dict) -> list[dict]:
  """steps/s, compile and init time of the default path, cases interleaved."""
  del results
  cases = {(attention, h): harness.icl_case(h, attention, 1, s.steps)
           for attention in s.attentions for h in s.heads}
  best = harness.interleaved({k: c.block for k, c in cases.items()}, s.repeats)
  return [{"attention": attention, "heads": h,
           "steps_per_s": s.steps / best[(attention, h)],
           "ms_per_step": 1e3 * best[(attention, h)] / s.steps,
           "init_s": case.init_s, "first_block_s": case.first_s,
           "compile_s": max(case.first_s - best[(attention, h)], 0.0)}
          for (attention, h), case in cases.items()]


@register("seeds")
def vmapped_seeds(s: Settings, results: dict) -> list[dict]:
  """S seeds in one program (H = 2): prompt-steps/s relative to one seed."""
  del results
  cases = {n: harness.icl_case(2, "softmax", n, max(s.steps // n, 20))
           for n in s.seed_counts}
  best = harness.interleaved({n: c.block for n, c in cases.items()}, s.repeats)
  rows = []
  for n, case in cases.items():
    sps = case.steps / best[n]
    rows.append({"seeds": n, "steps_per_s": sps,
                 "prompt_steps_per_s": sps * n * case.config.train.batch_size,
                 "memory": case.memory(), "compile_s": max(case.first_s - best[n], 0)})
  for r in rows:
    r["speedup_vs_1_seed"] = r["prompt_steps_per_s"] / rows[0]["prompt_steps_per_s"]
  return rows


@register("probes")
def probes(s: Settings, results: dict) -> dict:
  """The default config's chunk with probes every config.probes.every steps vs the
  plain chunk (the tiny mode's short blocks probe every gcd(every, steps))."""
  del results
  config = harness.config_for(2)
  every = math.gcd(config.probes.every, s.steps)  # must divide the chunk
  cases = {"probes on": harness.IclCase(config, s.steps, probe_every=every),
           "probes off": harness.icl_case(2, "softmax", 1, s.steps)}
  best = harness.interleaved({n: c.block for n, c in cases.items()}, s.repeats)
  on_s, off_s = s.steps / best["probes on"], s.steps / best["probes off"]
  return {"status": "measured", "every": every, "on_steps_per_s": on_s,
          "off_steps_per_s": off_s, "overhead": off_s / on_s - 1.0}


def token_model_configs() -> dict:
  """{name: config} of every configs/*.py whose model is not the one-layer model."""
  out = {}
  for path in sorted(glob.glob(os.path.join(harness.ROOT, "configs", "*.py"))):
    name = os.path.splitext(os.path.basename(path))[0]
    if name.startswith("_"):  # shared pieces of configs, not configs
      continue
    config = importlib.import_module(f"configs.{name}").get_config()
    if config.model.name != "one_layer":
      out[name] = config
  return out


@register("models")
def token_models(s: Settings, results: dict) -> dict:
  """steps/s and compile time of the token models, blocks of steps / 20."""
  del results
  cases = {name: harness.named_case(name, config, max(s.steps // 20, 10))
           for name, config in token_model_configs().items()}
  best = harness.interleaved({n: c.block for n, c in cases.items()}, s.repeats)
  return {"status": "measured",
          "rows": [{"config": name, "model": case.config.model.name,
                    "steps_per_s": case.steps / best[name],
                    "compile_s": max(case.first_s - best[name], 0.0)}
                   for name, case in cases.items()]}
