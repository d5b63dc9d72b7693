"""The four faults a new user hit, each reproduced (docs/reliability.md):

1. two runs on one work dir: the second exits at once naming the first;
2. a finite but exploding loss (lr 1e8): exit 3, the last good checkpoint kept;
3. an impossible size (context_len 1e7): one line naming the sizes, before compile;
4. a short run (num_steps=50) of a shipped config: cadences clamped, not refused.
"""

import importlib
import os
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from icl import config_lib
from icl import workdir as workdir_lib
from icl.train import checkpoint, faults, memory, train_and_evaluate
from tests.conftest import REPO, run_cli
from tests.reliability.common import final_state, small

CONFIG_FILES = ("regression", "mqar", "parity", "backcopy", "instability", "linear_gd")


# --- 1. a busy work dir --------------------------------------------------------


def test_a_second_run_in_the_same_process_is_refused(tmp_path):
  wd = str(tmp_path / "run")
  os.makedirs(wd)
  with workdir_lib.Lock(wd):
    assert workdir_lib.is_busy(wd)
    with pytest.raises(workdir_lib.WorkdirBusy, match=f"pid {os.getpid()}"):
      train_and_evaluate(small(num_steps=10, log_every=10), wd)
  assert not workdir_lib.is_busy(wd)
  train_and_evaluate(small(num_steps=10, log_every=10), wd)  # free again
  assert [r["step"] for r in workdir_lib.read_metrics(wd)] == [10]


def _wait(predicate, timeout=240.0):
  t0 = time.time()
  while not predicate():
    if time.time() - t0 > timeout:
      raise TimeoutError
    time.sleep(0.2)


def test_two_processes_one_work_dir_and_a_killed_owner(tmp_path):
  """The second process exits 2 with one line naming the first; icl.evaluate reads
  the live run; after SIGKILL the lock is stale and a new run resumes the dir."""
  wd = str(tmp_path / "run")
  args = [sys.executable, "-m", "icl.train", "--config=configs/regression.py:tiny",
          f"--workdir={wd}", "--config.train.num_steps=1000000",
          "--config.train.log_every=20", "--config.train.ckpt_every=20",
          "--config.train.eval_every=1000000", "--config.train.batch_size=32",
          "--config.probes.every=0"]
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  first = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
  try:
    _wait(lambda: checkpoint.Checkpointer(wd, read_only=True).latest_step()
          if os.path.isdir(os.path.join(wd, "checkpoints")) else False)
    assert workdir_lib.is_busy(wd)
    second = run_cli("icl.train", *args[3:], timeout=120)
    assert second.returncode == 2, second.stderr[-2000:]
    lines = [l for l in second.stderr.splitlines() if l.startswith("error:")]
    assert len(lines) == 1 and f"pid {first.pid}" in lines[0], second.stderr[-2000:]
    reader = run_cli("icl.evaluate", f"--workdir={wd}", "--num_prompts=256",
                     "--context_lens=40", timeout=300)
    assert reader.returncode == 0, reader.stderr[-2000:]
  finally:
    first.send_signal(signal.SIGKILL)
    first.wait()
  assert not workdir_lib.is_busy(wd)  # the kernel released the dead owner's lock
  step, _ = final_state(wd)
  c = small(num_steps=step + 20, log_every=20, ckpt_every=20, eval_every=10**6,
            batch_size=32)
  c.probes.every = 0
  c.eval.num_prompts = 2048  # as the tiny config the first run stored
  c.eval.batch_size = 4096
  train_and_evaluate(c, wd)
  assert workdir_lib.read_metrics(wd)[-1]["step"] == step + 20


# --- 2. a finite explosion ------------------------------------------------------


def test_an_exploding_finite_loss_stops_with_exit_3(tmp_path):
  wd = str(tmp_path / "run")
  proc = run_cli("icl.train", "--config=configs/regression.py:tiny", f"--workdir={wd}",
                 "--config.train.lr=1e8", "--config.train.num_steps=100",
                 "--config.train.log_every=10", "--config.train.ckpt_every=10",
                 "--config.train.batch_size=64", "--config.probes.every=0",
                 timeout=600)
  assert proc.returncode == faults.EXIT_DIVERGED, proc.stderr[-2000:]
  lines = [l for l in proc.stderr.splitlines() if l.startswith("error:")]
  assert len(lines) == 1 and "exceeds train.divergence_factor=100" in lines[0], lines
  assert not os.path.exists(os.path.join(wd, workdir_lib.DONE))
  last = checkpoint.Checkpointer(wd, read_only=True).latest_step()
  if last is not None:  # a checkpoint before the explosion is kept and finite
    assert f"last good checkpoint: step {last}" in lines[0]
    _, states = final_state(wd)
    assert all(np.isfinite(x).all() for x in jax.tree.leaves(states))
  # Without the check the run ends "done" with a loss of order 1e30 (the fault).
  c = small(lr=1e8, num_steps=20, log_every=10, eval_every=20, ckpt_every=20,
            divergence_factor=0.0)
  c.probes.every = 0
  result = train_and_evaluate(c, str(tmp_path / "unchecked"))
  assert np.isfinite(result["loss"]) and result["loss"] > 1e6


def test_one_exploding_point_of_several_is_named(tmp_path):
  c = small(num_steps=20, log_every=10, eval_every=20, ckpt_every=20, num_seeds=2)
  c.probes.every = 0
  c.sweep.field = "train.lr"
  c.sweep.value_list = "1e-3,1e8"
  with pytest.raises(faults.Diverged, match=r"of seed 0 of lr=100000000\.0 \(and 1 more\)"):
    train_and_evaluate(c, str(tmp_path / "run"))


# --- 3. an impossible size ------------------------------------------------------


def test_an_impossible_size_is_refused_before_compile(tmp_path):
  wd = str(tmp_path / "run")
  t0 = time.time()
  proc = run_cli("icl.train", "--config=configs/regression.py", f"--workdir={wd}",
                 "--config.task.context_len=10000000", timeout=300)
  assert proc.returncode == 2, proc.stderr[-2000:]
  lines = [l for l in proc.stderr.splitlines() if l.startswith("error:")]
  assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
  # The chunk's largest array is the probes' forward on probes.num_prompts prompts.
  assert lines[0].startswith("error: the training chunk needs at least 246 GB"), lines[0]
  assert "task.context_len=10000000" in lines[0] and "probes.num_prompts=512" in lines[0]
  assert "RESOURCE_EXHAUSTED" not in proc.stderr
  assert not os.path.exists(os.path.join(wd, "checkpoints"))  # nothing ran
  assert time.time() - t0 < 120


def test_largest_array_is_exact():
  size, shape, dtype = memory.largest_array(
      lambda x: (jnp.ones((300, 200)) * x).sum(), jax.ShapeDtypeStruct((), jnp.float32))
  assert (size, shape, dtype) == (300 * 200 * 4, (300, 200), "float32")


# --- 4. short runs of every shipped config ----------------------------------------


def _variants():
  for name in CONFIG_FILES:
    module = importlib.import_module(f"configs.{name}")
    for variant in module.VARIANTS:
      yield name, variant


@pytest.mark.parametrize("name,variant", list(_variants()))
def test_every_shipped_variant_resolves_with_50_steps(name, variant):
  c = importlib.import_module(f"configs.{name}").get_config(variant)
  c.train.num_steps = 50
  spec = config_lib.resolve(c)
  assert spec.train.log_every <= 50 and spec.probes.every <= 50


@pytest.mark.parametrize("name", CONFIG_FILES)
def test_each_shipped_config_trains_50_steps(name, tmp_path):
  """The command a user tries first, shortened; small batches keep it cheap."""
  c = importlib.import_module(f"configs.{name}").get_config()
  c.train.num_steps = 50
  c.train.batch_size = 8
  c.eval.num_prompts = 64
  c.probes.num_prompts = 16
  result = train_and_evaluate(c, str(tmp_path / name))
  assert np.isfinite(result["loss"])
  records = workdir_lib.read_metrics(str(tmp_path / name))
  assert records[-1]["step"] == 50 and "eval_loss" in records[-1]
  assert os.path.exists(os.path.join(tmp_path, name, workdir_lib.DONE))


@pytest.mark.filterwarnings("error::RuntimeWarning")  # no warning per skipped chunk
def test_with_skip_nonfinite_an_exploding_point_is_frozen_not_averaged(tmp_path):
  """lr 1e8 explodes at its first steps: with train.skip_nonfinite those steps are
  dropped (its params stay finite, at their last good values), the run finishes,
  and the healthy point's metrics are its own."""
  wd = str(tmp_path / "run")
  c = small(num_steps=20, log_every=10, eval_every=20, ckpt_every=20, num_seeds=2,
            skip_nonfinite=True)
  c.probes.every = 0
  c.sweep.field = "train.lr"
  c.sweep.value_list = "1e-3,1e8"
  train_and_evaluate(c, wd)
  last = workdir_lib.read_metrics(wd)[-1]
  assert last["skipped_steps"] > 0
  assert np.isfinite(last["train_loss/lr=0.001"]) and last["train_loss/lr=0.001"] < 2.0
  _, states = final_state(wd)
  assert all(np.isfinite(x).all() for x in jax.tree.leaves(states))
  # The healthy point trained as it does alone (common random numbers).
  alone = small(num_steps=20, log_every=10, eval_every=20, ckpt_every=20, num_seeds=2,
                lr=1e-3)
  alone.probes.every = 0
  train_and_evaluate(alone, str(tmp_path / "alone"))
  ref = workdir_lib.read_metrics(str(tmp_path / "alone"))[-1]
  np.testing.assert_allclose(last["train_loss/lr=0.001/seeds"], ref["train_loss/seeds"],
                             rtol=1e-5)
