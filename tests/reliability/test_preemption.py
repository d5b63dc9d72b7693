"""SIGTERM/SIGINT checkpoint the current step (the end of the current chunk: the
host loop regains control only between chunks) and stop cleanly; rerunning resumes
to exactly the uninterrupted result. kill -9: tests/reliability/test_fault_injection.py."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from icl import workdir as workdir_lib
from icl.train import checkpoint, faults, train_and_evaluate
from tests.conftest import REPO
from tests.reliability.common import assert_same_state, final_state, history, small


def wait_for_step(workdir, step, proc=None, timeout=300):
  t0 = time.time()
  while time.time() - t0 < timeout:
    records = workdir_lib.read_metrics(workdir, missing_ok=True)
    if records and records[-1]["step"] >= step:
      return records[-1]["step"]
    if proc is not None and proc.poll() is not None:
      raise AssertionError(f"training exited early ({proc.returncode})")
    time.sleep(0.05)
  raise AssertionError(f"no metrics at step {step} after {timeout}s")


def test_sigterm_checkpoints_exits_75_and_resumes(tmp_path):
  wd = str(tmp_path / "run")
  cmd = [sys.executable, "-m", "icl.train", "--config=configs/regression.py:tiny",
         f"--workdir={wd}", "--config.train.num_steps=100000",
         "--config.train.log_every=10", "--config.train.ckpt_every=50000",
         "--config.train.eval_every=50000", "--config.train.batch_size=64"]
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  log = tmp_path / "stderr.txt"
  with open(log, "w") as f:  # a file, not a pipe that nobody drains
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stderr=f, text=True)
    wait_for_step(wd, 20, proc)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=300)
  stderr = log.read_text()
  assert proc.returncode == faults.EXIT_PREEMPTED, stderr[-2000:]
  assert "Traceback" not in stderr
  stopped = [l for l in stderr.splitlines() if l.startswith("stopped:")]
  assert len(stopped) == 1 and "SIGTERM at step" in stopped[0], stderr[-2000:]
  step = workdir_lib.read_metrics(wd)[-1]["step"]
  assert f"at step {step}/100000" in stopped[0]
  assert checkpoint.Checkpointer(wd).latest_step() == step  # not a ckpt_every step
  assert not os.path.exists(os.path.join(wd, "DONE"))

  # Rerunning (here with a nearer end) resumes from that step.
  cmd[5] = f"--config.train.num_steps={step + 20}"
  proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True,
                        timeout=600)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert f"from step {step}" in proc.stderr
  assert [r["step"] for r in workdir_lib.read_metrics(wd)] == list(
      range(10, step + 21, 10))


def test_sigint_in_process_resumes_to_the_uninterrupted_result(tmp_path):
  straight, split = str(tmp_path / "straight"), str(tmp_path / "split")
  train_and_evaluate(small(), straight)
  handler = signal.getsignal(signal.SIGINT)

  def interrupt():
    wait_for_step(split, 10)
    os.kill(os.getpid(), signal.SIGINT)  # handled in the main thread

  thread = threading.Thread(target=interrupt, daemon=True)
  thread.start()
  with pytest.raises(faults.Preempted, match=r"SIGINT at step \d+/60"):
    train_and_evaluate(small(), split)
  thread.join()
  stopped_at = checkpoint.Checkpointer(split).latest_step()
  assert 10 <= stopped_at < 60
  assert history(split)[-1]["step"] == stopped_at
  assert signal.getsignal(signal.SIGINT) is handler  # restored

  train_and_evaluate(small(), split)
  assert history(split) == history(straight)
  assert_same_state(final_state(split)[1], final_state(straight)[1])
