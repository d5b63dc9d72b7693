"""icl/cli.py: the fast exit of `python -m icl.train` keeps the exit status and
everything the run wrote; it skips only the interpreter's teardown."""

import json
import os
import subprocess
import sys

import pytest

from icl.train import checkpoint
from tests.conftest import REPO, run_cli
from tests.test_records import _scalars

# A program under cli.run: main prints, registers an atexit line, and ends with the
# status given in argv (a number, 'fail' for cli.fail, or nothing for a return).
PROGRAM = """
import atexit, sys
from absl import flags
from icl import cli
flags.DEFINE_string("end", "", "")
def main(argv):
  atexit.register(lambda: print("atexit ran", flush=True))
  print("main ran", flush=True)
  end = flags.FLAGS.end
  if end == "fail":
    cli.fail("bad input")
  if end:
    sys.exit(int(end))
cli.run(main, fast_exit=True)
"""


@pytest.mark.parametrize("end,code", [("", 0), ("3", 3), ("75", 75), ("fail", 2)])
def test_fast_exit_keeps_the_status_and_skips_only_atexit(end, code):
  for fast in ("1", "0"):
    proc = subprocess.run([sys.executable, "-c", PROGRAM, f"--end={end}"], cwd=REPO,
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, ICL_FAST_EXIT=fast, JAX_PLATFORMS="cpu"))
    assert proc.returncode == code, (fast, proc.stderr[-2000:])
    assert "main ran" in proc.stdout
    assert ("atexit ran" in proc.stdout) == (fast == "0"), (fast, proc.stdout)
    if end == "fail":
      assert proc.stderr.strip().splitlines()[-1] == "error: bad input"


def test_a_fast_exited_run_left_every_file_complete(tmp_path):
  """The tiny regression run (200 steps, checkpoints at 100 and 200, events by a
  background thread, an async checkpoint save at the end): after the fast exit, the
  DONE marker, the last metrics line, the last TensorBoard scalar and the last
  checkpoint are all there."""
  workdir = str(tmp_path / "run")
  run_cli("icl.train", "--config=configs/regression.py:tiny", f"--workdir={workdir}",
          check=True, env={"ICL_FAST_EXIT": "1"})
  assert open(os.path.join(workdir, "DONE")).read() == "200"
  lines = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
  assert lines[-1]["step"] == 200 and "eval_loss" in lines[-1]
  scalars = _scalars(os.path.join(workdir, "tensorboard"))
  assert scalars["train_loss"][-1][0] == 200
  assert scalars["eval_loss"][-1] == (200, pytest.approx(lines[-1]["eval_loss"]))
  ckpt = checkpoint.Checkpointer(workdir)
  try:
    assert ckpt.latest_step() == 200
  finally:
    ckpt.close()
