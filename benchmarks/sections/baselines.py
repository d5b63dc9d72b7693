"""The baselines section: icl vs a Python loop vs PyTorch, blocks interleaved.

Same model, same head counts, softmax attention. The Python loop runs the same
jitted step on host numpy batches; PyTorch runs the eager re-implementation in
benchmarks/torch_reference.py on every thread count in {1, cores}, and
torch.compile on one thread (full mode). A missing torch or a torch.compile that
cannot build (inductor needs a C++ toolchain) is listed under "skipped".
"""

from __future__ import annotations

import os
import time

from benchmarks import harness
from benchmarks.sections.registry import Settings, register


def torch_skip_reason(s: Settings) -> str | None:
  """Why the PyTorch cases do not run, or None when they do."""
  if not s.with_torch:
    return "disabled by --notorch"
  try:
    import torch  # noqa: F401
  except ImportError as e:
    return f"torch not importable ({e}); pip install -e '.[bench]'"
  return None


def torch_compile_case(h: int, steps: int, skipped: dict) -> dict:
  """{name: case} with the torch.compile case, or {} (the reason in `skipped`)."""
  name = f"torch.compile H={h} threads=1"
  try:
    t0 = time.perf_counter()
    case = harness.TorchCase(h, "softmax", steps, 1, compile=True)
  except Exception as e:  # noqa: BLE001 -- inductor needs a working C++ toolchain
    skipped["torch.compile"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
    return {}
  case.compile_s = time.perf_counter() - t0
  return {name: case}


@register("baselines")
def baselines(s: Settings, results: dict) -> dict:
  """{"rows": [{case, steps_per_s, first_block_s[, compile_s]}], "skipped": {...}}."""
  del results
  slow = max(s.steps // 5, 10)
  skipped = {}
  torch_reason = torch_skip_reason(s)
  if torch_reason:
    skipped["torch"] = torch_reason
  cases = {}
  for h in s.heads:
    cases[f"icl H={h}"] = harness.icl_case(h, "softmax", 1, s.steps)
    cases[f"python loop H={h}"] = harness.PythonLoopCase(harness.config_for(h), slow)
    if not torch_reason:
      for threads in sorted({os.cpu_count() or 1, 1}):
        cases[f"torch eager H={h} threads={threads}"] = harness.TorchCase(
            h, "softmax", slow, threads)
  if not torch_reason and s.torch_compile and not s.quick:
    cases.update(torch_compile_case(2 if 2 in s.heads else s.heads[0], slow, skipped))
  elif not torch_reason:
    skipped["torch.compile"] = "not run in this mode (--quick or --notorch_compile)"
  best = harness.interleaved({n: c.block for n, c in cases.items()}, s.repeats)
  rows = []
  for name, case in cases.items():
    row = {"case": name, "steps_per_s": case.steps / best[name],
           "first_block_s": case.first_s}
    if hasattr(case, "compile_s"):
      row["compile_s"] = case.compile_s
    rows.append(row)
  return {"rows": rows, "skipped": skipped}
