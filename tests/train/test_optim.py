"""The optimizer named by config.train, against hand computations: the learning rate
of every schedule at every step, AdamW's decoupled weight decay, global-norm clipping.

The optimizer is the one the trainer builds (`optim.make_optimizer(config.train)` on a
config from configs/); the learning rate is read off SGD's update of a unit gradient
(update = -lr(t) * g), so the schedule is tested through the whole optax chain.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs.regression import get_config
from icl.train import optim

LR, STEPS, WARMUP = 0.1, 50, 10


def train_config(**fields):
  c = get_config("tiny")
  c.train.update({"num_steps": STEPS, "lr": LR, "warmup_steps": 0, **fields})
  return c.train


def lr_per_step(train, num_steps=STEPS + 5) -> np.ndarray:
  """lr(t) for t = 0 .. num_steps-1: minus SGD's update of the gradient 1."""
  opt = optim.make_optimizer(train)
  params = {"w": jnp.zeros(())}
  grads = {"w": jnp.ones(())}

  def step(state, _):
    updates, state = opt.update(grads, state, params)
    return state, -updates["w"]

  _, lrs = jax.lax.scan(step, opt.init(params), None, length=num_steps)
  return np.asarray(lrs, np.float64)


def expected_lr(schedule: str, warmup: int, t: int) -> float:
  if t < warmup:
    return LR * t / warmup
  decay = STEPS - warmup
  s = min(t - warmup, decay)  # optax schedules stay at their end value past it
  if schedule == "constant":
    return LR
  if schedule == "cosine":
    return LR * 0.5 * (1 + math.cos(math.pi * s / decay))
  return LR * (1 - s / decay)  # linear, to 0


@pytest.mark.parametrize("schedule", ["constant", "cosine", "linear"])
@pytest.mark.parametrize("warmup", [0, WARMUP])
def test_learning_rate_at_every_step_is_the_formula(schedule, warmup):
  lrs = lr_per_step(train_config(optimizer="sgd", schedule=schedule, warmup_steps=warmup))
  want = [expected_lr(schedule, warmup, t) for t in range(len(lrs))]
  np.testing.assert_allclose(lrs, want, rtol=1e-5, atol=1e-8)
  # Landmarks, spelled out: warm-up starts at 0 and reaches the peak at `warmup`.
  if warmup:
    assert lrs[0] == 0.0 and lrs[warmup // 2] == pytest.approx(LR / 2, rel=1e-6)
  assert lrs[warmup] == pytest.approx(LR, rel=1e-6)
  if schedule != "constant":  # decayed to 0 at num_steps
    assert lrs[STEPS] == pytest.approx(0.0, abs=1e-8)


def test_adamw_first_step_is_adam_plus_the_decoupled_decay():
  """Adam's first step is -lr g / (|g| + eps) (bias-corrected moments m = g, v = g^2);
  AdamW adds -lr * wd * p, independent of the gradient's scale."""
  wd, eps = 0.3, 1e-8
  p = {"a": jnp.array([1.0, -2.0, 0.5]), "b": jnp.array([[4.0, -0.25]])}
  g = {"a": jnp.array([0.2, 0.1, -3.0]), "b": jnp.array([[-1e-3, 5.0]])}
  for grad_scale in (1.0, 1e3):
    grads = jax.tree.map(lambda x: grad_scale * x, g)
    for name, decay in (("adamw", wd), ("adam", 0.0)):
      opt = optim.make_optimizer(train_config(optimizer=name, weight_decay=decay, eps=eps))
      updates, _ = opt.update(grads, opt.init(p), p)
      for leaf in p:
        pn, gn = np.asarray(p[leaf], np.float64), np.asarray(grads[leaf], np.float64)
        want = -LR * (gn / (np.abs(gn) + eps) + decay * pn)
        np.testing.assert_allclose(updates[leaf], want, rtol=1e-4, atol=1e-7)  # f32 moments
  # The decay term alone: AdamW minus Adam on the same step is -lr * wd * p.
  ups = {}
  for name, decay in (("adamw", wd), ("adam", 0.0)):
    opt = optim.make_optimizer(train_config(optimizer=name, weight_decay=decay))
    ups[name] = opt.update(g, opt.init(p), p)[0]
  for leaf in p:
    np.testing.assert_allclose(ups["adamw"][leaf] - ups["adam"][leaf],
                               -LR * wd * np.asarray(p[leaf]), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("clip", [1.0, 100.0])
def test_grad_clip_bounds_the_global_norm_of_the_update(clip):
  """SGD after clip_by_global_norm(c): update = -lr g min(1, c / |g|), |g| the norm
  over every leaf together (here |g| = sqrt(3^2 + 4^2 + 12^2) = 13)."""
  p = {"a": jnp.zeros(2), "b": {"c": jnp.zeros((1, 1))}}
  g = {"a": jnp.array([3.0, 4.0]), "b": {"c": jnp.array([[12.0]])}}
  opt = optim.make_optimizer(train_config(optimizer="sgd", grad_clip=clip))
  updates, _ = opt.update(g, opt.init(p), p)
  factor = min(1.0, clip / 13.0)
  jax.tree.map(lambda u, x: np.testing.assert_allclose(u, -LR * factor * np.asarray(x),
                                                       rtol=1e-6), updates, g)
  norm = math.sqrt(sum(float(jnp.sum(u ** 2)) for u in jax.tree.leaves(updates)))
  assert norm == pytest.approx(LR * min(13.0, clip), rel=1e-6)
  # grad_clip = 0 is off: the raw gradient step.
  off = optim.make_optimizer(train_config(optimizer="sgd", grad_clip=0.0))
  raw, _ = off.update(g, off.init(p), p)
  np.testing.assert_allclose(raw["b"]["c"], [[-LR * 12.0]], rtol=1e-6)
