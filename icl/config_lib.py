"""The config schema shared by every experiment, and its validation.

Each file in `configs/` starts from `base_config()` and fills in `task` and `model`.
Every field has a default and a one-line comment; `validate()` checks a resolved
config in one place, before anything compiles, and raises `ConfigError` with one
line naming the field, its value and what is allowed.
"""

from __future__ import annotations

import ml_collections


class ConfigError(ValueError):
  """A config field has a value that is not allowed (one-line message)."""


def base_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = 0  # seed i of train.num_seeds uses seed + i for its init and data keys
  c.overwrite = False  # allow resuming a work dir whose stored config differs

  c.task = ml_collections.ConfigDict()
  c.task.name = "regression"  # key of icl.tasks.TASKS

  c.model = ml_collections.ConfigDict()
  c.model.name = "one_layer"  # key of icl.models.MODELS

  c.train = ml_collections.ConfigDict()
  c.train.num_steps = 20_000  # optimizer steps
  c.train.batch_size = 256  # fresh prompts per step (online data)
  c.train.optimizer = "adam"  # 'adam', 'adamw' or 'sgd'
  c.train.lr = 1e-3  # peak learning rate
  c.train.b1 = 0.9  # Adam beta1
  c.train.b2 = 0.999  # Adam beta2
  c.train.eps = 1e-8  # Adam epsilon
  c.train.weight_decay = 0.0  # decoupled weight decay (adamw)
  c.train.schedule = "constant"  # 'constant', 'cosine' or 'linear' (decay to 0 after warmup)
  c.train.warmup_steps = 0  # linear warm-up steps
  c.train.grad_clip = 0.0  # global-norm clipping threshold; 0 = off
  c.train.z_loss = 0.0  # coefficient of log^2 Z of output logits (token tasks)
  c.train.num_seeds = 1  # independent models trained together with jax.vmap
  c.train.log_every = 500  # steps per scanned chunk; train loss written once per chunk
  c.train.eval_every = 5_000  # steps between evaluations (multiple of log_every)
  c.train.ckpt_every = 5_000  # steps between checkpoints (multiple of log_every)
  c.train.keep_ckpts = 3  # checkpoints kept on disk

  c.eval = ml_collections.ConfigDict()
  c.eval.num_prompts = 20_000  # fresh prompts per evaluation
  c.eval.batch_size = 4_096  # prompts per evaluation chunk (bounds memory)
  c.eval.context_lens = ""  # comma-separated lengths for icl.evaluate ('' = training length)
  return c
