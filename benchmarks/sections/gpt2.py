"""The GPT-2-style model on real-valued prompts (icl/models/gpt2.py): steps/s and
achieved FLOP/s for Garg et al.'s Tiny (64 / 3 layers / 2 heads) and Small
(128 / 6 / 4) sizes.

Each case is `configs/function_classes.py` at Garg's full prompt (linear functions,
d = 20, K = 41 examples, so 2K = 82 tokens; batch 64, Adam), trained by the default
path (`core.train_chunk`, one seed). Two FLOP counts per step: the analytic model
count below and XLA's `cost_analysis()` of the compiled `train_step` (sampler and
Adam included), each times the measured steps/s. The tiny mode (quick settings)
times the Tiny size only, on the toy prompt (d = 5, K = 11) and short blocks.

Analytic forward FLOPs of one prompt (multiply-add = 2; T = 2K tokens, width D,
L layers, token width d_in = d; the attention is computed densely, causal mask
applied after): per token and layer 2 * 12 D^2 (q, k, v, out: 4 D^2; MLP: 8 D^2)
plus 4 T D (scores and the weighted values); the read-in 2 d_in D per token and the
read-out 2 D per x-token. A step is 3x the forward of the batch (backward = 2x).
That is 6 x (matmul parameters) x tokens plus the attention scores. XLA's CPU count
agrees at Garg's prompt (5.93 G vs 5.68 G per Tiny step) but comes out far lower on
the toy prompt (0.18 G vs 1.32 G): read the model count.
"""

from __future__ import annotations

import jax

from benchmarks import harness
from benchmarks.sections.registry import Settings, register
from icl.train import core

SIZES = {"tiny": (64, 3, 2), "small": (128, 6, 4)}  # d_model, layers, heads (Garg)


def forward_flops_per_prompt(d_model: int, layers: int, dim: int = 20,
                             points: int = 41) -> int:
  """Analytic forward FLOPs of one prompt (module docstring)."""
  tokens = 2 * points
  per_layer = tokens * (24 * d_model ** 2 + 4 * tokens * d_model)
  return layers * per_layer + tokens * 2 * dim * d_model + points * 2 * d_model


def analytic_flops_per_step(d_model: int, layers: int, dim: int = 20, points: int = 41,
                            batch: int = 64) -> float:
  return 3.0 * forward_flops_per_prompt(d_model, layers, dim, points) * batch


def config_for(size: str, dim: int = 20, points: int = 41, batch: int = 64):
  """configs/function_classes.py at Garg's full linear prompt and a model size."""
  from configs import function_classes
  c = function_classes.get_config(size)
  c.task.dim, c.task.context_len = dim, points
  c.train.batch_size = batch
  return c


def xla_flops_per_step(config) -> float:
  exp = core.Experiment.from_config(config)
  state = jax.jit(exp.init_state)(jax.random.key(0))
  compiled = jax.jit(exp.train_step).lower(state, jax.random.key(1)).compile()
  return float(compiled.cost_analysis().get("flops", float("nan")))


# Full mode only in `python -m benchmarks.run` (the tiny mode's section list and
# RESULTS.md layout are the other sections'); call it with Settings.for_mode(True)
# for the tiny mode (tests/benchmarks/test_gpt2_section.py).
@register("gpt2", when=lambda s: not s.quick)
def gpt2_speed(s: Settings, results: dict) -> list[dict]:
  """steps/s, ms/step, compile s and achieved FLOP/s per size (module docstring)."""
  del results
  sizes = ("tiny",) if s.quick else ("tiny", "small")
  # the tiny mode: the toy prompt (d = 5, K = 11) and a few steps per block
  dim, points = (5, 11) if s.quick else (20, 41)
  steps = max(s.steps // 100, 2)  # a GPT-2 step costs ~20-200x the one-layer model's
  cases = {size: harness.IclCase(config_for(size, dim, points), steps) for size in sizes}
  best = harness.interleaved({k: c.block for k, c in cases.items()}, s.repeats)
  rows = []
  for size, case in cases.items():
    d_model, layers, heads = SIZES[size]
    sps = steps / best[size]
    model = analytic_flops_per_step(d_model, layers, dim, points)
    xla = xla_flops_per_step(case.config)
    rows.append({"size": size, "d_model": d_model, "layers": layers, "heads": heads,
                 "dim": dim, "points": points, "batch": 64, "steps_per_s": sps,
                 "ms_per_step": 1e3 / sps,
                 "compile_s": max(case.first_s - best[size], 0.0),
                 "model_flops_per_step": model, "xla_flops_per_step": xla,
                 "model_flop_per_s": model * sps, "xla_flop_per_s": xla * sps})
  return rows
