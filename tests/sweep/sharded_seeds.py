"""Run by test_sharding.py in a subprocess with 8 host devices (set before jax).

An 8-seed program with the seed axis sharded over 8 devices against 8 separate
single-seed programs (seed = 0..7; their batch is sharded instead). Prints "ok".
"""

import os

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

from configs.regression import get_config  # noqa: E402
from icl.train import core, sharding  # noqa: E402

STEPS = 20


def config(num_seeds, seed=0):
  c = get_config("tiny")
  c.train.batch_size = 64
  c.train.lr = 1e-2
  c.train.num_seeds = num_seeds
  c.seed = seed
  return c


def main():
  assert jax.device_count() == 8, jax.devices()
  c8 = config(8)
  exp = core.Experiment.from_config(c8)
  init_keys, data_keys = sharding.put_models(core.seed_keys(c8), exp.spec)
  states, metrics = core.train_chunk(exp, core.init_states(exp, init_keys),
                                     data_keys, STEPS)
  evals = core.evaluate(exp, states["params"], jax.random.key(1), 512, 256)
  for leaf in jax.tree.leaves(states):
    assert leaf.sharding.spec == P("data"), leaf.sharding
    assert len(leaf.sharding.device_set) == 8
    assert len({s.device for s in leaf.addressable_shards}) == 8
    assert all(s.data.shape[0] == 1 for s in leaf.addressable_shards)

  exp1 = core.Experiment.from_config(config(1))  # one program for every seed
  assert sharding.batch_sharding(exp1.config).spec == P("data")
  for i in range(8):
    ik, dk = core.seed_keys(config(1, seed=i))
    one, m1 = core.train_chunk(exp1, core.init_states(exp1, ik), dk, STEPS)
    np.testing.assert_allclose(metrics["train_loss"][i], m1["train_loss"][0],
                               rtol=2e-5, atol=1e-6)
    for name in one["params"]:
      np.testing.assert_allclose(states["params"][name][i], one["params"][name][0],
                                 rtol=1e-4, atol=1e-6)
    e1 = core.evaluate(exp1, one["params"], jax.random.key(1), 512, 256)
    np.testing.assert_allclose(evals["loss"][i], e1["loss"][0], rtol=1e-4)
  print("ok")


if __name__ == "__main__":
  main()
