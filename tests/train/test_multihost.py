"""python -m icl.train --multihost on one process.

With a one-process cluster environment (SLURM variables: 1 task, process 0, the
coordinator on a free loopback port) the flag calls jax.distributed.initialize(),
process 0 is the primary, and the run writes exactly what the plain run writes.
Without any cluster environment, initialize() cannot find a coordinator.
"""

import os
import socket
import subprocess
import sys

import pytest

from configs.regression import get_config
from icl import workdir as workdir_lib
from icl.train import train_and_evaluate
from tests.conftest import REPO

OVERRIDES = {"train.num_steps": 20, "train.log_every": 10, "train.eval_every": 20,
             "train.ckpt_every": 10, "train.batch_size": 32, "eval.num_prompts": 256,
             "eval.batch_size": 256, "probes.every": 0, "probes.snapshots": 0}
CLUSTER_PREFIXES = ("SLURM_", "OMPI_", "PMI_", "JAX_COORDINATOR", "JAX_NUM_PROCESSES",
                    "JAX_PROCESS_ID", "TPU_", "MEGASCALE_", "KUBERNETES_")


def train_cli(workdir: str, env: dict) -> subprocess.CompletedProcess:
  args = [f"--config.{k}={v}" for k, v in OVERRIDES.items()]
  base = {k: v for k, v in os.environ.items() if not k.startswith(CLUSTER_PREFIXES)}
  return subprocess.run(
      [sys.executable, "-m", "icl.train", "--multihost", "--config=configs/regression.py:tiny",
       f"--workdir={workdir}", *args], cwd=REPO, capture_output=True, text=True,
      timeout=600, env={**base, "JAX_PLATFORMS": "cpu", **env})


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def history(workdir):
  return [{k: v for k, v in r.items() if k != "wall_time"}
          for r in workdir_lib.read_metrics(workdir)]


def test_one_process_cluster_writes_what_the_plain_run_writes(tmp_path):
  port = free_port()
  wd = str(tmp_path / "multihost")
  proc = train_cli(wd, {"SLURM_JOB_ID": "1", "SLURM_STEP_NODELIST": "127.0.0.1",
                        "SLURM_NTASKS": "1", "SLURM_PROCID": "0", "SLURM_LOCALID": "0",
                        "SLURM_STEP_NUM_NODES": "1", "JAX_COORDINATOR_PORT": str(port),
                        "JAX_COORDINATOR_BIND_ADDRESS": f"127.0.0.1:{port}"})
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert f"Connecting to JAX distributed service on 127.0.0.1:{port}" in proc.stderr

  plain = str(tmp_path / "plain")
  c = get_config("tiny")
  for key, value in OVERRIDES.items():
    section, name = key.split(".")
    c[section][name] = value
  train_and_evaluate(c, plain)

  got, want = history(wd), history(plain)
  assert [r["step"] for r in got] == [10, 20]
  assert [sorted(r) for r in got] == [sorted(r) for r in want]
  for g, w in zip(got, want):
    for key in w:
      assert g[key] == pytest.approx(w[key], rel=1e-5), key
  with open(os.path.join(wd, "DONE")) as f:
    assert f.read() == "20"
  assert workdir_lib.read_config(wd).to_dict() == workdir_lib.read_config(plain).to_dict()
  assert sorted(os.listdir(os.path.join(wd, "checkpoints"))) == ["10", "20"]


@pytest.fixture(scope="module")
def no_cluster(tmp_path_factory):
  wd = str(tmp_path_factory.mktemp("mh") / "run")
  return wd, train_cli(wd, {})


def test_without_a_cluster_it_fails_before_any_work(no_cluster):
  """jax.distributed.initialize() finds no cluster: nothing is created."""
  wd, proc = no_cluster
  assert proc.returncode == 2
  assert "coordinator_address should be defined" in proc.stderr
  assert not os.path.exists(wd)


def test_without_a_cluster_it_is_a_one_line_error(no_cluster):
  _, proc = no_cluster
  lines = [l for l in proc.stderr.splitlines() if l.strip() and "WARNING" not in l]
  assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error:"), \
      proc.stderr[-2000:]
