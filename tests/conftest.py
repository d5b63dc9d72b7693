"""Shared test set-up: 8 host CPU devices (before jax is imported), float32, fixed seeds."""

import os
import subprocess
import sys

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")

import jax  # noqa: E402
import pytest  # noqa: E402

# Many tests compile the same small programs (the tiny configs): JAX's persistent
# compilation cache, shared by the xdist workers and the CLI subprocesses (which use
# the user cache directory by default), compiles each once per machine.
_CACHE = os.environ.setdefault(
    "JAX_COMPILATION_CACHE_DIR",
    os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
                 "icl", "jax-tests"))
jax.config.update("jax_compilation_cache_dir", _CACHE)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_cli(*args: str, timeout: float = 600, env: dict | None = None,
            check: bool = False) -> subprocess.CompletedProcess:
  """Runs `python -m <args>` from the repository root; returns the process."""
  full_env = dict(os.environ, **(env or {}))
  full_env.setdefault("JAX_PLATFORMS", "cpu")
  proc = subprocess.run([sys.executable, "-m", *args], cwd=REPO, env=full_env,
                        capture_output=True, text=True, timeout=timeout)
  if check and proc.returncode != 0:
    raise AssertionError(f"{args} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
  return proc


def count_calls(monkeypatch, owner, name: str) -> list:
  """Patches `owner.name` (a function or method) to record each call; returns the
  list that grows by one entry per call (a trace counts as a call)."""
  original = getattr(owner, name)
  calls = []

  def counting(*args, **kwargs):
    calls.append(1)
    return original(*args, **kwargs)
  monkeypatch.setattr(owner, name, counting)
  return calls


@pytest.fixture
def repo_root() -> str:
  return REPO
