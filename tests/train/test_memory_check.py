"""The memory check (icl/train/memory.py): exact sizes, the per-device division, and
the trainer's reuse of the checked traces."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs.regression import get_config
from icl import config_lib
from icl.train import core, memory, sharding, train_and_evaluate
from tests.conftest import count_calls


def test_largest_in_finds_arrays_inside_a_scan():
  def fn(x):
    def body(c, _):
      return c + (jnp.ones((70, 300)) * c).sum(), None
    return jax.lax.scan(body, x, None, length=3)[0] + jnp.ones((10, 10)).sum()
  size, shape, dtype = memory.largest_in(jax.make_jaxpr(fn)(1.0))
  assert (size, shape, dtype) == (70 * 300 * 4, (70, 300), "float32")


def _spec(num_seeds):
  c = get_config("tiny")
  c.train.num_seeds = num_seeds
  return config_lib.resolve(c, check_devices=False)


@pytest.mark.parametrize("num_seeds", [1, 3, 8])
def test_a_program_needs_its_largest_array_over_the_devices_it_is_split_over(
    monkeypatch, num_seeds):
  spec = _spec(num_seeds)
  monkeypatch.setattr(memory, "_shared_memory", lambda: False)  # as on accelerators
  # One model: its batch is split over the devices (the tests run 8 host devices).
  shards = sharding.shard_count(num_seeds if num_seeds > 1 else spec.train.batch_size)
  jaxpr = jax.make_jaxpr(lambda x: jnp.ones((num_seeds, 1000, 37)) * x)(1.0)
  need = -(-num_seeds * 1000 * 37 * 4 // shards)
  monkeypatch.setattr(memory, "available_bytes", lambda: need)  # just fits
  memory.check_programs(spec, {"training chunk": jaxpr})
  monkeypatch.setattr(memory, "available_bytes", lambda: need - 1)
  with pytest.raises(memory.OutOfMemory, match=r"the training chunk needs at least "
                     rf"{need / 1e9:.3g} GB for one array \[{num_seeds}, 1000, 37\]"):
    memory.check_programs(spec, {"training chunk": jaxpr})


def test_on_cpu_the_whole_array_counts(monkeypatch):
  """CPU devices share the host's memory: no division by the devices."""
  spec = _spec(8)
  jaxpr = jax.make_jaxpr(lambda x: jnp.ones((8, 1000, 37)) * x)(1.0)
  monkeypatch.setattr(memory, "available_bytes", lambda: 8 * 1000 * 37 * 4 - 1)
  with pytest.raises(memory.OutOfMemory, match=r"needs at least 0.00118 GB .*\(float32\), "):
    memory.check_programs(spec, {"training chunk": jaxpr})
  exp = core.Experiment.from_config(spec)
  largest = max(math.prod(x.shape) * np.dtype(x.dtype).itemsize
                for x in jax.tree.leaves(jax.eval_shape(exp.init_state, jax.random.key(0))))
  monkeypatch.setattr(memory, "available_bytes", lambda: 8 * largest)
  memory.check_state(exp, spec)
  monkeypatch.setattr(memory, "available_bytes", lambda: 8 * largest - 1)
  with pytest.raises(memory.OutOfMemory, match=r"x 8 models"):
    memory.check_state(exp, spec)


def test_the_state_check_counts_the_models_each_device_holds(monkeypatch):
  monkeypatch.setattr(memory, "_shared_memory", lambda: False)  # as on accelerators
  spec = _spec(3)
  exp = core.Experiment.from_config(spec)
  state = jax.eval_shape(exp.init_state, jax.random.key(0))
  largest = max(math.prod(x.shape) * np.dtype(x.dtype).itemsize
                for x in jax.tree.leaves(state))
  per_device = -(-3 // sharding.shard_count(3))
  monkeypatch.setattr(memory, "available_bytes", lambda: largest * per_device)
  memory.check_state(exp, spec)
  monkeypatch.setattr(memory, "available_bytes", lambda: largest * per_device - 1)
  with pytest.raises(memory.OutOfMemory, match="the training state needs"):
    memory.check_state(exp, spec)


def test_the_loop_reuses_the_traces_the_memory_check_made(tmp_path, monkeypatch):
  """One trace of the training chunk per run: the check's trace is the one the
  first call runs (a second trace is the 0.2-0.3 s this reuse saves). Each run
  builds its own Experiment, a static argument hashed by identity, so no earlier
  test's trace can be reused here."""
  traces = count_calls(monkeypatch, core.Experiment, "train_chunk")
  c = get_config("tiny")
  c.train.update(dict(num_steps=20, log_every=10, eval_every=20, ckpt_every=20))
  train_and_evaluate(c, str(tmp_path / "run"))
  assert len(traces) == 1


def test_the_state_check_reads_the_init_trace_the_run_compiles(tmp_path, monkeypatch):
  """The state check takes its shapes from the traced init (one trace of the model's
  constructor per run, not one for the check and one for the init), and finds the
  same largest leaf as tracing one model's state."""
  spec = _spec(3)
  exp = core.Experiment.from_config(spec)
  init_keys, _ = sharding.put_models(core.seed_keys(spec), spec)
  traced = core.init_states.trace(exp, init_keys).out_info
  largest = max(math.prod(x.shape) * np.dtype(x.dtype).itemsize
                for x in jax.tree.leaves(jax.eval_shape(exp.init_state, jax.random.key(0))))
  monkeypatch.setattr(memory, "available_bytes", lambda: 3 * largest)
  memory.check_state(exp, spec, traced)
  monkeypatch.setattr(memory, "available_bytes", lambda: 3 * largest - 1)
  with pytest.raises(memory.OutOfMemory, match=r"x 3 models"):
    memory.check_state(exp, spec, traced)
  monkeypatch.undo()

  traces = count_calls(monkeypatch, core.Experiment, "init_state")
  c = get_config("tiny")
  c.train.update(dict(num_steps=10, log_every=10, eval_every=10, ckpt_every=10))
  train_and_evaluate(c, str(tmp_path / "run"))
  assert len(traces) == 1
