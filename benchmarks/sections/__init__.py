"""The benchmark sections, registered by name (see registry.py), and their run order.

  training.py   icl (default path), seeds (vmapped), probes, models (token models)
  baselines.py  icl vs a Python loop vs PyTorch
  sampler.py    the batch sampler alone, per bit generator
  fusion.py     the training chunks with icl's XLA:CPU flags vs XLA's default fusions
  one_model.py  a one-seed chunk without vmap (icl's) vs vmapped over its one model
  flops.py      achieved FLOP/s against a matmul peak (reads the icl rows)
  startup.py    time to first step and cold start (full mode only)
  whole_process.py  a whole 20k-step `python -m icl.train` vs its loop and vs torch's
  llc.py        SGLD chains vmapped vs chain by chain (full mode only)
  token_peers.py  MQAR: icl vs Zoology's PyTorch code; transformer fwd vs bwd, FLOP/s
  gpt2.py       the GPT-2-style model on real-valued prompts (Tiny, Small): steps/s, FLOP/s
"""

from benchmarks.sections import (  # noqa: F401 (register)
    baselines, flops, fusion, gpt2, llc, one_model, sampler, startup, token_peers,
    training, whole_process)
from benchmarks.sections.registry import (SECTIONS, Section, Settings, is_error,
                                          register, run_section)

# The run order: baselines reuse the icl cases, flops reads the icl rows.
ORDER = ("icl", "baselines", "seeds", "sampler", "probes", "models", "fusion", "one_model",
         "flops", "token_peers", "transformer_backward", "ttfs", "cold_start",
         "whole_process", "llc", "gpt2")
assert set(ORDER) == set(SECTIONS), (ORDER, list(SECTIONS))

__all__ = ["ORDER", "SECTIONS", "Section", "Settings", "is_error", "register",
           "run_section"]
