"""The LLC section: SGLD chains batched in one program vs chain by chain.

`icl.probes.llc.estimate` runs C chains in one compiled program, `jax.vmap`ped
(`chain_batching='vmap'`) or one after another inside it (`'map'`, `lax.map`); the
alternative, the PyTorch libraries' pattern, is one jitted chain called C times
from Python. Cases, all in the fresh-prompt mode with the `icl.devinterp` defaults
(n beta 60, gamma 6, epsilon 3e-4, batch 128):

  H = 2 regression model (one-layer softmax attention, d = 5, L = 40, 228 params) at
  its init: C = 1, 4, 8 chains; and T = 4 checkpoints in one `estimate_over_time`
  call vs one call per checkpoint.
  The tiny transformer of docs/devinterp.md (configs/task_diversity.py:m_inf, 2
  layers, d_model 32, 25.6k params, D = 4, K = 8) at its init: one whole estimate,
  4 chains x (50 + 100) steps with l(w*) and the curvature check, vmapped vs mapped
  chains, against the same 4 x 150 steps chain by chain (half the docs' estimate,
  to keep the full run under 10 minutes; `python -m benchmarks.sections.llc
  transformer` times the docs' 100 + 200).

Full mode only (a compile per case). Alone: `python -m benchmarks.sections.llc`.
"""

from __future__ import annotations

import time

import jax

from benchmarks.sections.registry import Settings, register

NBETA, GAMMA, EPSILON, BATCH = 60.0, 6.0, 3e-4, 128


def _setup(config_file: str, variant: str):
  import importlib

  from icl.probes import llc as llc_lib
  from icl.train import core

  exp = core.Experiment.from_config(
      importlib.import_module(f"configs.{config_file}").get_config(variant))
  params = exp.init_params(jax.random.key(0))
  loss_fn = lambda p, b: exp.loss(p, b)[0]
  data = llc_lib.fresh_data(lambda k: exp.task.sample(k, BATCH), jax.random.key(1), 2)
  return params, loss_fn, data


def _config(num_chains: int, burnin: int, draws: int, batching: str = "vmap"):
  from icl.probes import llc as llc_lib
  return llc_lib.LLCConfig(epsilon=EPSILON, nbeta=NBETA, gamma=GAMMA,
                           num_chains=num_chains, num_burnin=burnin, num_draws=draws,
                           chain_batching=batching, checkpoint_batching=batching)


def _by_chain(loss_fn, data, config, params, num_chains: int):
  """One jitted chain, called once per chain key from Python."""
  from icl.probes import llc as llc_lib
  chain = jax.jit(lambda p, k: llc_lib.sgld_chain(loss_fn, p, k, data, config, NBETA)["loss"])
  keys = jax.random.split(jax.random.key(2), num_chains)
  return lambda: [jax.block_until_ready(chain(params, k)) for k in keys]


def _chain_cases(num_chains: int, steps: int):
  from icl.probes import llc as llc_lib
  params, loss_fn, data = _setup("regression", "h2")
  config = _config(num_chains, 0, steps)
  vmapped = jax.jit(lambda p, k: llc_lib.estimate(loss_fn, p, k, data, config)["llc"])
  return {"H=2: vmapped": lambda: jax.block_until_ready(vmapped(params, jax.random.key(2))),
          "H=2: chain by chain": _by_chain(loss_fn, data, config, params, num_chains)}


def _checkpoint_cases(num_checkpoints: int, num_chains: int, steps: int):
  import jax.numpy as jnp

  from icl.probes import llc as llc_lib
  params, loss_fn, data = _setup("regression", "h2")
  config = _config(num_chains, 0, steps)
  stacked = jax.tree.map(  # T distinct "checkpoints": the init, scaled
      lambda x: jnp.stack([x * (1 + 0.1 * t) for t in range(num_checkpoints)]), params)
  over_time = llc_lib.jit_estimate(loss_fn, data, config, over_time=True)
  one = llc_lib.jit_estimate(loss_fn, data, config)
  key = jax.random.key(2)
  singles = [jax.tree.map(lambda x: x[t], stacked) for t in range(num_checkpoints)]
  return {f"H=2, {num_checkpoints} checkpoints x {num_chains} chains: one call (vmapped)":
              lambda: jax.block_until_ready(over_time(stacked, key)["llc"]),
          f"H=2, {num_checkpoints} checkpoints x {num_chains} chains: a call per checkpoint":
              lambda: [jax.block_until_ready(one(p, key)["llc"]) for p in singles]}


def _transformer_cases(burnin: int, draws: int):
  from icl.probes import llc as llc_lib
  params, loss_fn, data = _setup("task_diversity", "m_inf")
  cases = {}
  for batching in ("vmap", "map"):
    fn = llc_lib.jit_estimate(loss_fn, data, _config(4, burnin, draws, batching))
    cases[f"tiny transformer, one estimate: {batching}ped chains"] = (
        lambda fn=fn: jax.block_until_ready(fn(params, jax.random.key(2))["llc"]))
  cases["tiny transformer: chain by chain"] = _by_chain(
      loss_fn, data, _config(4, burnin, draws), params, 4)
  return cases


def _measure(cases: dict, repeats: int, chains: int, steps: int) -> list[dict]:
  """Per case: the first call (compile included), then the best of `repeats`
  interleaved blocks in wall time and in this process's CPU time (user + system, all
  threads: on a quiet machine the wall time is at most this)."""
  first = {}
  for name, block in cases.items():
    t0 = time.perf_counter()
    block()
    first[name] = time.perf_counter() - t0
  best = {name: float("inf") for name in cases}
  cpu = dict(best)
  for _ in range(repeats):
    for name, block in cases.items():
      t0, c0 = time.perf_counter(), time.process_time()
      block()
      best[name] = min(best[name], time.perf_counter() - t0)
      cpu[name] = min(cpu[name], time.process_time() - c0)
  return [{"case": name, "chains": chains, "steps": steps, "first_call_s": first[name],
           "seconds": best[name], "cpu_seconds": cpu[name],
           "ms_per_chain_step": 1e3 * best[name] / (chains * steps)} for name in cases]


def llc(s: Settings, results: dict) -> list[dict]:
  """ms per chain-step, batched in one program vs one call per chain (or checkpoint);
  the tiny transformer's whole estimate (its `seconds`: the < 30 s target)."""
  del results
  steps = max(20, s.steps // 10)
  rows = []
  for num_chains in (1, 4, 8):
    rows += _measure(_chain_cases(num_chains, steps), s.repeats, num_chains, steps)
  rows += _measure(_checkpoint_cases(4, 4, steps), s.repeats, 4 * 4, steps)
  rows += _measure(_transformer_cases(50, 100), 1, 4, 150)
  return rows


if __name__ != "__main__":  # run alone, the package has registered the module already
  register("llc", when=lambda s: not s.quick)(llc)
else:
  import json
  import sys

  from benchmarks import report

  # python -m benchmarks.sections.llc [all | h2 | transformer] [repeats]
  part = sys.argv[1] if len(sys.argv) > 1 else "all"
  repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
  settings = Settings.for_mode(False, repeats=repeats)
  if part == "transformer":
    rows = _measure(_transformer_cases(100, 200), repeats, 4, 300)
  elif part == "h2":
    rows = [row for c in (1, 4, 8) for row in _measure(_chain_cases(c, 100), repeats, c, 100)]
    rows += _measure(_checkpoint_cases(4, 4, 100), repeats, 16, 100)
  else:
    rows = llc(settings, {})
  print(json.dumps(rows, indent=1))
  print("\n".join(report._llc(rows)))
