"""One program, 2 sweep points x 2 seeds (config.sweep over train.lr), one point
diverging (SGD at lr 10): what the trainer does today.

The whole program stops with exit status 3 and one line naming the first non-finite
step, before anything of that chunk is saved: the healthy point stops too, and the last
checkpoint (every model finite) and metrics line are those of the chunk before.
"""

import os
import re

import jax
import numpy as np
import pytest

from icl import evaluate, workdir as workdir_lib
from icl.train import core, faults
from tests.conftest import run_cli
from tests.reliability.common import final_state

ARGS = ("--config=configs/regression.py:tiny", "--config.train.optimizer=sgd",
        "--config.train.num_seeds=2", "--config.sweep.field=train.lr",
        "--config.sweep.value_list=0.01,10.0", "--config.train.num_steps=20",
        "--config.train.log_every=2", "--config.train.ckpt_every=2",
        "--config.train.eval_every=20", "--config.train.batch_size=32",
        "--config.eval.num_prompts=256", "--config.eval.batch_size=256",
        "--config.probes.every=0", "--config.probes.snapshots=0",
        "--config.train.divergence_factor=0")  # the non-finite check alone


@pytest.fixture(scope="module")
def diverged(tmp_path_factory):
  wd = str(tmp_path_factory.mktemp("div") / "run")
  return wd, run_cli("icl.train", f"--workdir={wd}", *ARGS, timeout=600)


def error_line(proc) -> str:
  lines = [l for l in proc.stderr.splitlines() if l.startswith("error:")]
  assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
  return lines[0]


def test_one_diverging_point_stops_the_program_with_exit_3(diverged):
  wd, proc = diverged
  assert proc.returncode == faults.EXIT_DIVERGED, proc.stderr[-2000:]
  line = error_line(proc)
  match = re.search(r"non-finite loss at step (\d+) \(seed (\d+) of lr=10\.0\)", line)
  bad, seed = int(match.group(1)), int(match.group(2))
  assert 2 <= bad < 20 and seed in (0, 1)
  model = 2 + seed  # model m = point * num_seeds + seed: point 1 (lr 10)
  last = bad - bad % 2  # 2-step chunks, each checkpointed: the bad one never is
  assert f"last finite checkpoint: step {last}" in line
  step, states = final_state(wd)
  assert step == last
  assert np.asarray(states["hparams"]["lr"]).tolist() == pytest.approx([0.01, 0.01, 10, 10])
  assert all(np.isfinite(x).all() for x in jax.tree.leaves(states))
  records = workdir_lib.read_metrics(wd)
  assert [r["step"] for r in records] == list(range(2, last + 1, 2))
  for r in records:  # each point's loss per seed, all finite
    for label in ("lr=0.01", "lr=10.0"):
      assert len(r[f"train_loss/{label}/seeds"]) == 2
      assert all(np.isfinite(r[f"train_loss/{label}/seeds"]))
  assert not os.path.exists(os.path.join(wd, "DONE"))

  # Replaying the failing chunk from the kept checkpoint: the first non-finite loss is
  # at the named step, for the named model, and only lr = 10 models go bad.
  _, exp, states, _ = evaluate.load_run(wd)
  _, metrics = core.train_chunk(exp, states, core.seed_keys(exp.config)[1], 2)
  losses = np.asarray(metrics["train_loss"])  # [models, steps]
  assert np.isfinite(losses[:2]).all()
  bad_models, bad_steps = np.nonzero(~np.isfinite(losses))
  first = min(zip(bad_steps, bad_models))
  assert (last + int(first[0]), int(first[1])) == (bad, model)


def test_the_message_names_the_sweep_point_and_an_existing_seed(diverged):
  _, proc = diverged
  line = error_line(proc)
  assert "lr=10.0" in line
  assert re.search(r"\bseed [01]\b", line), line
