"""Two processes for real: jax.distributed on this machine (a localhost coordinator,
2 CPU devices per process, 4 in all) train one sharded 4-seed program, and the
result equals the single-process run.

* the program itself (core.train_chunk, core.evaluate, sharding.put_models and
  to_host) through `jax.distributed.initialize(...)` with explicit arguments;
* the command `python -m icl.train --multihost` as on a SLURM cluster (SLURM_* in
  the environment, the coordinator from JAX_COORDINATOR_ADDRESS): metrics.jsonl,
  snapshots, config.json and DONE written once (by process 0), checkpoints written
  by both processes together and readable by one.
"""

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.conftest import REPO
from tests.train import multiprocess_worker as worker

pytestmark = pytest.mark.xdist_group("multiprocess")  # one worker: never two 2-process runs at once

CLI_ARGS = ("--config=configs/regression.py:tiny", "--config.train.num_seeds=4",
            "--config.train.batch_size=32")


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def environment(devices: int, **extra: str) -> dict:
  env = {k: v for k, v in os.environ.items()  # proxies can hang the localhost gRPC
         if "proxy" not in k.lower() and not k.startswith(("SLURM_", "JAX_"))}
  env.update(JAX_PLATFORMS="cpu", PYTHONPATH=REPO,
             XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", **extra)
  return env


def start(args, env) -> subprocess.Popen:
  return subprocess.Popen([sys.executable, "-m", *args], cwd=REPO, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(procs, timeout: float = 300) -> list[str]:
  """Waits for every process (killing all if one fails or hangs); their stdouts."""
  deadline, outs = time.monotonic() + timeout, []
  try:
    for p in procs:
      out, err = p.communicate(timeout=max(deadline - time.monotonic(), 1))
      assert p.returncode == 0, f"{p.args[2:]} exited {p.returncode}:\n{err[-3000:]}"
      outs.append(out)
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
        p.wait()
  return outs


def test_two_processes_train_the_single_process_program(tmp_path):
  out, port = str(tmp_path / "result.npz"), str(free_port())
  procs = [start(("tests.train.multiprocess_worker", port, str(i), "2", out),
                 environment(2)) for i in range(2)]
  stdouts = finish(procs)
  assert "process 0 holds models [0, 1]" in stdouts[0]
  assert "process 1 holds models [2, 3]" in stdouts[1]
  two = dict(np.load(out))

  _, one = worker.run(worker.config())  # here: one process (the test's 8 devices)
  assert set(one) == set(two)
  np.testing.assert_allclose(two["train_loss"], one["train_loss"], rtol=2e-5, atol=1e-6)
  np.testing.assert_allclose(two["eval_loss"], one["eval_loss"], rtol=1e-4)
  for name in one:
    np.testing.assert_allclose(two[name], one[name], rtol=1e-4, atol=1e-6, err_msg=name)


def read_metrics(workdir) -> list[dict]:
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f]


def final_params(workdir):
  """The last checkpoint's params, restored in this (single) process."""
  from icl import config_lib
  from icl.train import checkpoint, core
  from configs.regression import get_config
  c = get_config("tiny")
  c.train.num_seeds, c.train.batch_size = 4, 32
  config_lib.validate(c)
  exp = core.Experiment.from_config(c)
  template = core.init_states(exp, core.seed_keys(c)[0])
  ckpt = checkpoint.Checkpointer(str(workdir))
  try:
    step, states = ckpt.restore(template)
  finally:
    ckpt.close()
  return step, {k: np.asarray(v) for k, v in states["params"].items()}


def test_multihost_command_writes_once_and_equals_one_process(tmp_path):
  two, one = tmp_path / "two", tmp_path / "one"
  address = f"localhost:{free_port()}"
  procs = [start(("icl.train", *CLI_ARGS, f"--workdir={two}", "--multihost"),
                 environment(2, JAX_COORDINATOR_ADDRESS=address, SLURM_JOB_ID="1",
                             SLURM_STEP_NODELIST="localhost", SLURM_NTASKS="2",
                             SLURM_PROCID=str(i), SLURM_LOCALID=str(i)))
           for i in range(2)]
  procs.append(start(("icl.train", *CLI_ARGS, f"--workdir={one}"), environment(1)))
  finish(procs)

  lines2, lines1 = read_metrics(two), read_metrics(one)
  steps = [r["step"] for r in lines1]
  assert [r["step"] for r in lines2] == steps  # one writer: no line twice
  assert steps == sorted(set(steps)) and steps[-1] == 200
  for r2, r1 in zip(lines2, lines1):
    assert set(r2) == set(r1)
    for k in r1:
      if k != "wall_time":
        np.testing.assert_allclose(r2[k], r1[k], rtol=1e-4, atol=1e-6, err_msg=k)
  assert sorted(os.listdir(two / "snapshots")) == sorted(os.listdir(one / "snapshots"))
  assert (two / "DONE").read_text() == "200"
  assert json.loads((two / "config.json").read_text()) == json.loads(
      (one / "config.json").read_text())

  state_dir = two / "checkpoints" / "200" / "state"  # orbax: each process its shards
  assert {"process_0", "process_1"} <= set(os.listdir(state_dir / "array_metadatas"))
  (step2, params2), (step1, params1) = final_params(two), final_params(one)
  assert step2 == step1 == 200
  for name in params1:
    np.testing.assert_allclose(params2[name], params1[name], rtol=1e-4, atol=1e-6,
                               err_msg=name)
