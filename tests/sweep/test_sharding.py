"""The seed axis over 8 devices gives the single-seed results (in a subprocess, so
that the device count is certain)."""

from tests.conftest import run_cli


def test_eight_sharded_seeds_are_eight_single_seed_runs():
  proc = run_cli("tests.sweep.sharded_seeds", timeout=900,
                 env={"XLA_FLAGS": "--xla_force_host_platform_device_count=8"})
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert proc.stdout.strip().endswith("ok")
