"""The benchmark sections, registered by name (see registry.py), and their run order.

  training.py   icl (default path), seeds (vmapped), probes, models (token models)
  baselines.py  icl vs a Python loop vs PyTorch
  sampler.py    the batch sampler alone, per bit generator
  flops.py      achieved FLOP/s against a matmul peak (reads the icl rows)
  startup.py    time to first step and cold start (full mode only)
  llc.py        SGLD chains vmapped vs chain by chain (full mode only)
  gpt2.py       the GPT-2-style model on real-valued prompts (Tiny, Small): steps/s, FLOP/s
"""

from benchmarks.sections import baselines, flops, llc, sampler, startup, training  # noqa: F401 (register)
from benchmarks.sections import gpt2  # noqa: F401,E402 (register)
from benchmarks.sections.registry import (SECTIONS, Section, Settings, is_error,
                                          register, run_section)

# The run order: baselines reuse the icl cases, flops reads the icl rows.
ORDER = ("icl", "baselines", "seeds", "sampler", "probes", "models", "flops", "ttfs",
         "cold_start", "llc", "gpt2")
assert set(ORDER) == set(SECTIONS), (ORDER, list(SECTIONS))

__all__ = ["ORDER", "SECTIONS", "Section", "Settings", "is_error", "register",
           "run_section"]
