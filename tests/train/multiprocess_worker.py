"""Run by test_multiprocess.py: one of two processes of a jax.distributed program on
this machine (localhost coordinator, 2 CPU devices per process, 4 in all).

    python -m tests.train.multiprocess_worker PORT PROCESS_ID NUM_PROCESSES OUT.npz

Trains the 4-seed program of `config()` for STEPS steps with the seed axis sharded
over all 4 devices (2 models per process), evaluates it, gathers the result on every
process (sharding.to_host) and process 0 saves it to OUT.npz. Prints the models this
process holds, then "ok".
"""

import os
import sys

STEPS = 60


def config():
  from configs.regression import get_config
  c = get_config("tiny")
  c.train.batch_size = 32
  c.train.num_seeds = 4
  c.train.lr = 1e-2
  return c


def run(c, steps: int = STEPS) -> dict:
  """The program: params, train losses [M, steps] and eval losses [M], on the host."""
  import jax
  from icl.train import core, sharding
  exp = core.Experiment.from_config(c)
  init_keys, data_keys = sharding.put_models(core.seed_keys(c), exp.spec)
  states, metrics = core.train_chunk(exp, core.init_states(exp, init_keys), data_keys,
                                     steps)
  evals = core.evaluate(exp, states["params"], jax.random.key(1), 256, 256)
  host = {f"params/{k}": sharding.to_host(v) for k, v in states["params"].items()}
  host["train_loss"] = sharding.to_host(metrics["train_loss"])
  host["eval_loss"] = sharding.to_host(evals["loss"])
  return states, host


def main(port: str, process_id: str, num_processes: str, out: str):
  import jax
  import numpy as np
  from jax.sharding import PartitionSpec as P
  jax.distributed.initialize(f"localhost:{port}", num_processes=int(num_processes),
                             process_id=int(process_id), initialization_timeout=120)
  assert jax.process_count() == int(num_processes), jax.process_count()
  assert jax.local_device_count() == 2 and jax.device_count() == 2 * jax.process_count()
  states, host = run(config())
  held = set()
  for leaf in jax.tree.leaves(states):  # the seed axis spans both processes
    assert not leaf.is_fully_addressable
    assert leaf.sharding.spec == P("data") and len(leaf.sharding.device_set) == 4
    assert len(leaf.addressable_shards) == 2
    assert all(s.data.shape[0] == 1 for s in leaf.addressable_shards)
    held.add(tuple(sorted(s.index[0].start for s in leaf.addressable_shards)))
  assert len(held) == 1, held
  if jax.process_index() == 0:
    np.savez(out, **host)
  print(f"process {jax.process_index()} holds models {list(held.pop())}")
  jax.distributed.shutdown()
  print("ok")


if __name__ == "__main__":
  os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
  os.environ.setdefault("JAX_PLATFORMS", "cpu")
  main(*sys.argv[1:])
