"""A non-finite loss stops the run with one line naming the step and the last
finite checkpoint, which is kept; train.skip_nonfinite drops bad steps instead."""

import os
import re

import jax
import numpy as np
import pytest

from icl import workdir as workdir_lib
from icl.train import checkpoint, faults, train_and_evaluate
from tests.conftest import run_cli
from tests.reliability.common import final_state, small

# SGD at lr 10 on the tiny regression: the loss overflows within the first few steps
# (checked below: the run really produces non-finite values).
DIVERGING = ("--config.train.optimizer=sgd", "--config.train.lr=10.0",
             "--config.train.num_steps=20", "--config.train.log_every=2",
             "--config.train.ckpt_every=2", "--config.train.eval_every=20",
             "--config.train.batch_size=64", "--config.eval.num_prompts=512",
             "--config.probes.every=0", "--config.probes.snapshots=0",
             "--config.train.divergence_factor=0")  # the non-finite check alone


def test_divergence_stops_before_saving_and_keeps_the_last_finite_checkpoint(tmp_path):
  wd = str(tmp_path / "run")
  proc = run_cli("icl.train", "--config=configs/regression.py:tiny",
                 f"--workdir={wd}", *DIVERGING, timeout=600)
  assert proc.returncode == faults.EXIT_DIVERGED, proc.stderr[-2000:]
  lines = [l for l in proc.stderr.splitlines() if l.startswith("error:")]
  assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
  bad = int(re.search(r"non-finite loss at step (\d+) \(seed 0\)", lines[0]).group(1))
  assert 2 <= bad < 20
  last = bad - bad % 2  # chunks of 2 steps, each checkpointed: the bad one never is
  assert f"last finite checkpoint: step {last}" in lines[0]
  ckpt = checkpoint.Checkpointer(wd)
  assert ckpt.latest_step() == last
  step, states = final_state(wd)
  assert step == last and all(np.isfinite(x).all() for x in jax.tree.leaves(states))
  assert [r["step"] for r in workdir_lib.read_metrics(wd)] == list(range(2, last + 1, 2))
  assert not os.path.exists(os.path.join(wd, "DONE"))


@pytest.mark.filterwarnings("error::RuntimeWarning")  # no warning per skipped chunk
def test_skip_nonfinite_drops_the_bad_steps(tmp_path):
  wd = str(tmp_path / "run")
  c = small(optimizer="sgd", lr=10.0, num_steps=20, eval_every=20, ckpt_every=20,
            skip_nonfinite=True)
  train_and_evaluate(c, wd)
  records = workdir_lib.read_metrics(wd)
  assert [r["step"] for r in records] == [10, 20]
  assert records[0]["skipped_steps"] > 0
  assert sum(r["skipped_steps"] for r in records) <= 20
  _, states = final_state(wd)
  assert all(np.isfinite(x).all() for x in jax.tree.leaves(states))
