"""icl: a JAX/Flax lab for the theory of in-context learning in attention.

Entry points (each also a ``python -m`` module):
  icl.train     train a model from an ml_collections config into a work directory
  icl.evaluate  evaluate the latest checkpoint of a work directory

Importing icl adds its XLA:CPU defaults (`CPU_XLA_FLAGS`) to ``XLA_FLAGS``, for
every program of the process once jax starts its CPU backend (XLA reads the variable
then; a backend already started keeps its flags). A flag already in ``XLA_FLAGS``
keeps the user's value; ``ICL_XLA_CPU_DEFAULTS=0`` adds none. Other backends
ignore them.
"""

import os as _os

__version__ = "0.1.0"

# XLA:CPU hands each dot to YNNPACK on its own and leaves the elementwise work and
# reductions around it to XLA's own loop fusions. The default (dots, elementwise
# ops and reductions fused into one YNNPACK subgraph) ran the shipped configs'
# training steps 5-35% slower on 2-core CPUs (benchmarks/RESULTS.md, "XLA:CPU
# fusion"). The flag changes how programs are compiled, not their mathematics (results
# agree to float rounding).
CPU_XLA_FLAGS = ("--xla_cpu_experimental_ynn_fusion_type=individual_dot",)


def _add_cpu_xla_flags() -> None:
  if _os.environ.get("ICL_XLA_CPU_DEFAULTS", "1").lower() in ("0", "false", "off", "no"):
    return
  flags = _os.environ.get("XLA_FLAGS", "")
  for flag in CPU_XLA_FLAGS:
    if flag.split("=", 1)[0] not in flags:
      flags = f"{flags} {flag}".strip()
  _os.environ["XLA_FLAGS"] = flags


_add_cpu_xla_flags()
