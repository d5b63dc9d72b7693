"""The loss-position read-out: a transformer that predicts only at the task's loss
positions gives the full read-out's loss and gradients (float32 tolerance), for
every attention kind and the options that touch positions (rotary, short conv,
qk-norm, MLP, multi-layer), on MQAR (random query positions) and sparse parity."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import mqar, parity
from icl import losses
from icl.models import transformer
from icl.train import core


def _loss_and_grads(config, readout_positions):
  config = config.copy_and_resolve_references()
  config.train.readout_positions = readout_positions
  exp = core.Experiment.from_config(config)
  params = exp.init_params(jax.random.key(0))
  batch = exp.task.sample(jax.random.key(1), 16)
  fn = jax.jit(jax.value_and_grad(lambda p: exp.loss(p, batch)[0]))
  return fn(params)


def _assert_same(config):
  (full, g_full), (sparse, g_sparse) = (_loss_and_grads(config, r) for r in (False, True))
  np.testing.assert_allclose(sparse, full, rtol=1e-5)
  scale = max(float(jnp.max(jnp.abs(g))) for g in jax.tree.leaves(g_full))
  for a, b in zip(jax.tree.leaves(g_sparse), jax.tree.leaves(g_full)):
    np.testing.assert_allclose(a, b, atol=1e-5 * scale, rtol=1e-4)


def test_mqar_same_loss_and_gradients():
  """Rotary positions, qk-norm, MLP, soft-cap and z-loss: every option that acts on
  the last block's query rows or the logits."""
  config = mqar.get_config("tiny,model.positions=rotary,model.qk_norm=True,model.mlp=True")
  config.train.z_loss = 1e-2
  config.model.softcap = 5.0
  _assert_same(config)


@pytest.mark.slow
@pytest.mark.parametrize("items", [
    "tiny",
    "tiny,attention=linear,short_conv=4",
    "tiny,attention=sigmoid,heads=2",
    "tiny,attention=relu,layers=3,heads=2",
    "tiny,attention=linear,model.linear_normalizer=position,layers=1",
])
def test_mqar_attention_kinds_same_loss_and_gradients(items):
  _assert_same(mqar.get_config(items))


@pytest.mark.slow
def test_sparse_parity_same_loss_and_gradients():
  config = parity.get_config("sparse")
  assert config.model.name == "transformer"
  _assert_same(config)


def test_positions_select_the_full_output_rows():
  config = mqar.get_config("tiny")
  exp = core.Experiment.from_config(config)
  params = exp.init_params(jax.random.key(0))
  batch = exp.task.sample(jax.random.key(1), 8)
  pos = batch["query_positions"]
  full = exp.apply(params, batch)
  sparse = exp.apply(params, dict(batch, readout_positions=pos))
  assert sparse.shape == (8, config.task.num_pairs, config.task.vocab_size)
  np.testing.assert_allclose(sparse, losses.gather_positions(full, pos), atol=1e-5)
  assert exp.spec.model_entry is transformer.ENTRY and transformer.ENTRY.readout_positions
