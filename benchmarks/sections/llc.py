"""The LLC section: SGLD chains vmapped in one program vs chain by chain.

`icl.probes.llc.estimate` runs C chains as one `jax.vmap`; the alternative is one
jitted chain called C times from Python. Both sample the H = 2 regression model
(one-layer softmax attention, d = 5, L = 40) in the fresh-prompt mode with the
`icl.devinterp` defaults (nbeta 60, gamma 6, batch 128), at its initial params.
Full mode only (a compile per case).
"""

from __future__ import annotations

import time

import jax

from benchmarks import harness
from benchmarks.sections.registry import Settings, register


def _cases(num_chains: int, steps: int):
  from configs.regression import get_config
  from icl.probes import llc as llc_lib
  from icl.train import core

  exp = core.Experiment.from_config(get_config("h2"))
  params = exp.init_params(jax.random.key(0))
  loss_fn = lambda p, b: exp.loss(p, b)[0]
  data = llc_lib.fresh_data(lambda k: exp.task.sample(k, 128), jax.random.key(1), 2)
  config = llc_lib.LLCConfig(epsilon=3e-4, nbeta=60.0, gamma=6.0, num_chains=num_chains,
                             num_burnin=0, num_draws=steps)
  vmapped = jax.jit(lambda p, k: llc_lib.estimate(loss_fn, p, k, data, config)["llc"])
  chain = jax.jit(lambda p, k: llc_lib.sgld_chain(loss_fn, p, k, data, config, 60.0)["loss"])
  keys = jax.random.split(jax.random.key(2), num_chains)
  return {"vmapped": lambda: jax.block_until_ready(vmapped(params, jax.random.key(2))),
          "chain by chain": lambda: [jax.block_until_ready(chain(params, k)) for k in keys]}


@register("llc", when=lambda s: not s.quick)
def llc(s: Settings, results: dict) -> list[dict]:
  """ms per chain-step of C = 1, 4, 8 chains, vmapped vs one at a time."""
  del results
  steps = max(20, s.steps // 10)
  rows = []
  for num_chains in (1, 4, 8):
    cases = _cases(num_chains, steps)
    first = {}
    for name, block in cases.items():
      t0 = time.perf_counter()
      block()
      first[name] = time.perf_counter() - t0
    best = harness.interleaved(cases, s.repeats)
    for name in cases:
      rows.append({"case": name, "chains": num_chains, "steps": steps,
                   "first_call_s": first[name],
                   "ms_per_chain_step": 1e3 * best[name] / (num_chains * steps)})
  return rows
