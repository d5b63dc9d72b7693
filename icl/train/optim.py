"""The optimizer named by ``config.train``: optax chains, learning rate injectable."""

from __future__ import annotations

import optax

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine", "linear")


def learning_rate_schedule(train) -> optax.Schedule:
  """Linear warm-up to ``train.lr``, then constant, cosine or linear decay to 0."""
  decay_steps = max(train.num_steps - train.warmup_steps, 1)
  if train.schedule == "constant":
    after = optax.constant_schedule(train.lr)
  elif train.schedule == "cosine":
    after = optax.cosine_decay_schedule(train.lr, decay_steps)
  elif train.schedule == "linear":
    after = optax.linear_schedule(train.lr, 0.0, decay_steps)
  else:
    raise ValueError(f"train.schedule={train.schedule!r}; allowed: {SCHEDULES}")
  if train.warmup_steps <= 0:
    return after
  warm = optax.linear_schedule(0.0, train.lr, train.warmup_steps)
  return optax.join_schedules([warm, after], [train.warmup_steps])


def make_optimizer(train) -> optax.GradientTransformation:
  """Adam with the paper's defaults unless the config says otherwise."""
  lr = learning_rate_schedule(train)
  if train.optimizer == "adam":
    opt = optax.adam(lr, b1=train.b1, b2=train.b2, eps=train.eps)
  elif train.optimizer == "adamw":
    opt = optax.adamw(lr, b1=train.b1, b2=train.b2, eps=train.eps,
                      weight_decay=train.weight_decay)
  elif train.optimizer == "sgd":
    opt = optax.sgd(lr)
  else:
    raise ValueError(f"train.optimizer={train.optimizer!r}; allowed: {OPTIMIZERS}")
  if train.grad_clip > 0:
    opt = optax.chain(optax.clip_by_global_norm(train.grad_clip), opt)
  return opt
