"""The fault-injection script runs (2 kill -9/resume cycles) so that it cannot rot;
`python -m benchmarks.fault_injection --cycles 20` is the full check."""

from tests.conftest import run_cli


def test_fault_injection_two_cycles(tmp_path):
  proc = run_cli("benchmarks.fault_injection", "--cycles=2", f"--dir={tmp_path}",
                 "--seed=1", timeout=1500)
  assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
  assert "2/2 cycles equal the uninterrupted run" in proc.stdout
