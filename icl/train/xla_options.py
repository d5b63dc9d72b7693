"""XLA compiler options per model, for the training and evaluation programs.

XLA:CPU hands dots, and by default the reductions next to them, to YNNPACK
subgraphs (`--xla_cpu_experimental_ynn_fusion_type`, default dot + reduce). A model
entry with `ModelEntry.cpu_fusion = "individual_dot"` gets programs in which
YNNPACK takes each dot alone and XLA's own loop fusions the elementwise work and
reductions around it. Every shipped model keeps XLA's default: `individual_dot`
made the transformer family's chunk 1.1-1.3x faster while a one-seed chunk was
vmapped over its one model, and 0.88-0.97x as fast since a one-model program runs
unbatched (`sharding.over_models`; also 0.92-0.96x with 4 vmapped seeds), and the
regression model's vmapped seeds lose a quarter with it (benchmarks/RESULTS.md,
"XLA:CPU fusion"). The options change how a program is compiled, not its
mathematics (results agree to float rounding).

On other backends, with the flag set in ``XLA_FLAGS`` (the user's value wins) or
with ``ICL_XLA_CPU_OPTIONS=0``, no option is passed.
"""

from __future__ import annotations

import os

import jax

from icl import cli

YNN_FUSION = "xla_cpu_experimental_ynn_fusion_type"
FUSION_LISTS = {"individual_dot": "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"}  # None: XLA's own


def compiler_options(cpu_fusion: str | None) -> dict[str, str]:
  """The per-executable options for a model whose entry asks for `cpu_fusion`."""
  if (cpu_fusion is None or jax.default_backend() != "cpu"
      or YNN_FUSION in os.environ.get("XLA_FLAGS", "")
      or cli.switched_off("ICL_XLA_CPU_OPTIONS")):
    return {}
  return {YNN_FUSION: FUSION_LISTS[cpu_fusion]}


def for_experiment(exp) -> dict[str, str]:
  """The options of the programs of `exp` (an `Experiment`): its model entry's."""
  return compiler_options(exp.spec.model_entry.cpu_fusion)
