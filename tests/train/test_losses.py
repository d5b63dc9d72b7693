"""Training losses against independent float64 numpy computations: the z-loss term of
`train.z_loss` on a token task, and in-context parity's `task.loss_type='logistic'`."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import mqar, parity
from icl import config_lib, tasks
from icl.train import core


def logsumexp(a: np.ndarray) -> np.ndarray:
  m = a.max(-1, keepdims=True)
  return (m + np.log(np.exp(a - m).sum(-1, keepdims=True)))[..., 0]


# Batches drawn with numpy: the losses only read these fields, and drawing them
# with jax would compile the samplers (seconds on a loaded 2-core machine).
def token_batch(task, batch_size: int, seed: int = 0) -> dict:
  """tokens / targets over the task's vocabulary; a random half of the positions scored."""
  rng = np.random.default_rng(seed)
  shape = (batch_size, task.seq_len)
  return {"tokens": jnp.asarray(rng.integers(0, task.vocab_size, shape), jnp.int32),
          "targets": jnp.asarray(rng.integers(0, task.vocab_size, shape), jnp.int32),
          "loss_mask": jnp.asarray(rng.random(shape) < 0.5, jnp.float32)}


def parity_batch(task, batch_size: int, seed: int = 0) -> dict:
  """A regression-format prompt of random +-1 bits with the parity of bits {0, 1}."""
  rng = np.random.default_rng(seed)
  x = rng.choice([-1.0, 1.0], size=(batch_size, task.context_len + 1, task.dim))
  y = x[..., 0] * x[..., 1]
  f32 = lambda a: jnp.asarray(a, jnp.float32)
  return {"x": f32(x[:, :-1]), "y": f32(y[:, :-1]), "xq": f32(x[:, -1]), "yq": f32(y[:, -1]),
          "is_heldout": f32(rng.random(batch_size) < 0.5)}


def mqar_experiment(z_loss: float):
  c = mqar.get_config("tiny")
  c.train.z_loss = z_loss
  config_lib.validate(c)
  return core.Experiment.from_config(c)


def spread_logits(params):
  """The read-out scaled up so that log Z differs between positions (at init every
  position has log Z ~ log V, which would hide which positions are averaged)."""
  return {**params, "readout": params["readout"] * 300.0}


def expected_losses(logits, batch) -> tuple[float, float]:
  """(masked cross-entropy, masked mean of log^2 Z) in float64."""
  a = np.asarray(logits, np.float64)  # [B, T, V]
  mask = np.asarray(batch["loss_mask"], np.float64)
  log_z = logsumexp(a)
  ce = log_z - np.take_along_axis(a, np.asarray(batch["targets"])[..., None], -1)[..., 0]
  return (ce * mask).sum() / mask.sum(), (log_z ** 2 * mask).sum() / mask.sum()


def test_z_loss_adds_the_coefficient_times_the_masked_mean_of_log_z_squared():
  coef = 0.01
  exp = mqar_experiment(coef)
  params = spread_logits(jax.jit(exp.init_params)(jax.random.key(0)))
  batch = token_batch(exp.task, 8)
  loss_fn = jax.jit(exp.loss)
  loss, logits = loss_fn(params, batch)
  task_loss, z_term = expected_losses(logits, batch)
  assert float(loss) == pytest.approx(task_loss + coef * z_term, rel=1e-5)

  # Scored positions only: a mask on the positions of largest log Z gives a z-term
  # well above the mean over all positions.
  log_z = logsumexp(np.asarray(logits, np.float64))
  top = {**batch, "loss_mask": jnp.asarray(log_z > np.median(log_z), jnp.float32)}
  loss_top, _ = loss_fn(params, top)
  task_top, z_top = expected_losses(logits, top)
  assert z_top > 1.1 * (log_z ** 2).mean()  # here 1.2x
  assert float(loss_top) == pytest.approx(task_top + coef * z_top, rel=1e-5)

  # Without the coefficient the loss is the task's cross-entropy alone, and the
  # prediction (logits) does not depend on the coefficient.
  loss0, logits0 = jax.jit(mqar_experiment(0.0).loss)(params, batch)
  assert float(loss0) == pytest.approx(task_loss, rel=1e-5)
  np.testing.assert_array_equal(logits0, logits)
  assert float(loss - loss0) == pytest.approx(coef * z_term, rel=1e-4)


def parity_task(loss_type: str):
  c = parity.get_config("incontext")
  c.task.loss_type = loss_type
  return tasks.make_task(c.task)


def test_logistic_parity_loss_is_mean_log_one_plus_exp_minus_y_pred():
  task = parity_task("logistic")
  batch = parity_batch(task, 64)
  y = np.asarray(batch["yq"], np.float64)
  assert set(np.unique(y)) == {-1.0, 1.0}
  pred = np.random.default_rng(0).normal(scale=2.0, size=64)
  pred[:4] = [100.0, -100.0, 0.0, 30.0]  # large margins: no overflow
  want = np.mean(np.logaddexp(0.0, -y * pred))
  got = task.loss(jnp.asarray(pred, jnp.float32), batch)
  assert float(got) == pytest.approx(want, rel=1e-5)
  assert float(task.metrics(jnp.asarray(pred, jnp.float32), batch)["loss"]) == \
      pytest.approx(want, rel=1e-5)
  # The squared loss on the same prediction is (pred - y)^2.
  squared = parity_task("squared").loss(jnp.asarray(pred, jnp.float32), batch)
  assert float(squared) == pytest.approx(np.mean((pred - y) ** 2), rel=1e-5)


def test_logistic_parity_is_the_training_loss_of_the_one_layer_model():
  c = parity.get_config("incontext")
  c.task.loss_type = "logistic"
  exp = core.Experiment.from_config(c)
  params = jax.jit(exp.init_params)(jax.random.key(0))
  params = {**params, "out": params["out"] * 20.0}  # predictions of a few units
  batch = parity_batch(exp.task, 32)
  loss, pred = jax.jit(exp.loss)(params, batch)
  pred, y = np.asarray(pred, np.float64), np.asarray(batch["yq"], np.float64)
  assert np.std(pred) > 0.3
  assert float(loss) == pytest.approx(np.mean(np.logaddexp(0.0, -y * pred)), rel=1e-5)


def test_an_unknown_loss_type_is_a_config_error():
  c = parity.get_config("incontext")
  c.task.loss_type = "hinge"
  with pytest.raises(config_lib.ConfigError, match="loss_type"):
    config_lib.validate(c)
