"""sharding.over_models: vmap over the model axis, and one model run alone."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs.regression import get_config
from icl.train import core, memory, sharding


def _fn(w, key):
  x = jax.random.normal(key, (16, 4))
  return {"y": jnp.tanh(x @ w).sum(), "w2": w @ w.T}


@pytest.mark.parametrize("models", [1, 3])
def test_over_models_is_vmap(models, monkeypatch):
  w = jax.random.normal(jax.random.key(0), (models, 4, 4))
  keys = jax.random.split(jax.random.key(1), models)
  expected = jax.vmap(_fn)(w, keys)
  if models == 1:  # one model runs alone: no vmap at all
    monkeypatch.setattr(jax, "vmap", lambda *a, **k: pytest.fail("vmapped one model"))
  out = sharding.over_models(_fn, w, keys)
  assert jax.tree.map(jnp.shape, out) == jax.tree.map(jnp.shape, expected)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6),
               out, expected)


def test_a_one_seed_chunk_traces_without_a_model_axis():
  """The one-model chunk's program is the single model's: its largest array (a batch
  of prompts' activations) has no size-1 model axis in front, as it has when the
  chunk is vmapped over its one model."""
  c = get_config("tiny")
  exp = core.Experiment.from_config(c)
  init_keys, data_keys = core.seed_keys(c)
  states = core.init_states(exp, init_keys)
  _, shape, _ = memory.largest_in(
      core.train_chunk.trace(exp, states, data_keys, 5).jaxpr)
  assert shape[0] in (c.train.batch_size, c.probes.num_prompts), shape
