"""icl's XLA:CPU defaults (icl/__init__.py): added to XLA_FLAGS on import, a user's
own value kept, switched off by ICL_XLA_CPU_DEFAULTS=0, and in effect in compiled
programs."""

import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAG = "--xla_cpu_experimental_ynn_fusion_type"

# Compiles a dot followed by tanh and a row sum; prints XLA_FLAGS and whether the tanh was left
# outside the YNNPACK fusion (a loop fusion of its own) or fused into it.
PROBE = """
import os, icl, jax, jax.numpy as jnp
text = jax.jit(lambda a, b: jnp.tanh(a @ b).sum(-1) * 2).lower(
    jnp.ones((64, 64)), jnp.ones((64, 64))).compile().as_text()
print(os.environ.get("XLA_FLAGS", ""))
print("tanh-separate" if "wrapped_tanh" in text else "tanh-fused")
"""


def probe(**env) -> list[str]:
  full = {k: v for k, v in os.environ.items()
          if k not in ("XLA_FLAGS", "ICL_XLA_CPU_DEFAULTS")}
  full.update(env, JAX_PLATFORMS="cpu", PYTHONPATH=REPO)
  out = subprocess.run([sys.executable, "-c", PROBE], env=full, capture_output=True,
                       text=True, check=True, timeout=120)
  return out.stdout.rstrip("\n").split("\n")[-2:]


@pytest.mark.skipif(sys.platform != "linux", reason="XLA:CPU's YNNPACK is linux-x86 here")
def test_defaults_added_and_in_effect():
  flags, fusion = probe()
  assert f"{FLAG}=individual_dot" in flags.split()
  assert fusion == "tanh-separate"


def test_user_value_kept():
  flags, fusion = probe(XLA_FLAGS=f"--xla_cpu_enable_fast_math=false {FLAG}=dot,eltwise")
  assert flags == f"--xla_cpu_enable_fast_math=false {FLAG}=dot,eltwise"
  assert fusion == "tanh-fused"


def test_switched_off():
  flags, fusion = probe(ICL_XLA_CPU_DEFAULTS="0")
  assert flags == ""
  assert fusion == "tanh-fused"
