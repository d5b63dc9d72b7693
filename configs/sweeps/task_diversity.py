"""Raventós et al.'s task-diversity transition: the pool size M as a grid axis.

Raventós, Paul, Chen & Ganguli (2023), *Pretraining task diversity and the emergence
of non-Bayesian in-context learning for regression*: a transformer pretrained on a
pool of M linear tasks behaves like the Bayes estimator of the pool (dMMSE) for small
M and like ridge (the Bayes estimator of the Gaussian prior, good on unseen tasks)
above a threshold M*. Every point is `configs/task_diversity.py` (D = 4, K = 8,
sigma^2 = 0.125, 2 layers / 32 / 2 heads, triangle schedule, batch 128, 8000 steps)
at one M (one program each: the pool's shape differs); the seeds of a point train
together under jax.vmap and share its pool (drawn with ``base.task.pool_seed``).
Read the points with `icl.evaluate.task_diversity` (pool and fresh tasks, distances
to dMMSE and ridge; docs/deep_icl.md, "Task diversity").

  python -m icl.sweep --config=configs/sweeps/task_diversity.py --workdir=runs/td
  python -m icl.evaluate.task_diversity --workdir=runs/td
  python -m icl.sweep --config=configs/sweeps/task_diversity.py:quick --workdir=/tmp/td

`--config=configs/sweeps/task_diversity.py:<items>` takes comma-separated items,
applied in order (icl/config_variants.py): a variant name, or `alias=value` /
`dotted.path=value` (the experiment's fields are under `base.`, e.g.
`base.task.pool_seed=1`).

Variants: default (M in {4, 8, 16, 32, 256, infinity} (0), 2 seeds, 8000 steps), quick
(two M values, a few steps, for tests), short (4000 steps, 1 seed, M in {4, 16, 32,
256, infinity}: a loaded 2-core machine in about an hour), paper (the paper's setting and M = 2^0..2^20
in octaves of 2; GPU).
Aliases: pool_seed (base.task.pool_seed), steps (base.train.num_steps), lr
(base.train.lr), batch (base.train.batch_size), seeds (base.train.num_seeds).
"""

import ml_collections

from configs import task_diversity
from icl import config_variants


def _quick(c):
  c.base = task_diversity.get_config("quick")
  c.base.train.num_seeds = 1
  c.grid.task.pool_size = [4, 0]


def _short(c):  # what a busy 2-core machine fits in an hour (WORKSPACE_NOTES.md)
  c.base.train.num_steps = 4_000
  c.base.train.warmup_steps = 2_000  # the triangle schedule of the shorter run
  c.base.train.eval_every = c.base.train.ckpt_every = 2_000
  c.base.train.num_seeds = 1
  c.grid.task.pool_size = [4, 16, 32, 256, 0]


def _paper(c):
  c.base = task_diversity.get_config("paper")
  c.base.train.num_seeds = 1
  c.grid.task.pool_size = [2 ** i for i in range(0, 21, 2)] + [0]


VARIANTS = {
    "default": lambda c: None,
    "quick": _quick,
    "short": _short,
    "paper": _paper,
}
ALIASES = {
    "pool_seed": "base.task.pool_seed",
    **{alias: f"base.{path}" for alias, path in config_variants.TRAIN_ALIASES.items()},
}


def get_config(arg: str | None = None):
  c = ml_collections.ConfigDict()
  c.base = task_diversity.get_config()  # the experiment every point starts from
  c.base.train.num_seeds = 2  # seeds per point, vmapped in one program (one pool)
  c.grid = ml_collections.ConfigDict()
  c.grid.task = ml_collections.ConfigDict()
  c.grid.task.pool_size = [4, 8, 16, 32, 256, 0]  # M; 0 = a fresh task per prompt

  return config_variants.apply(c, arg, VARIANTS, ALIASES)
