"""The paper's head-count sweep: H in {1, 2, 4, 8}, several seeds per program.

He, Pan, Chen, Yang, *In-Context Linear Regression Demystified* (ICML 2025): the
test risk falls from H = 1 to H = 2 and stays flat beyond (multi-head softmax
attention reaches the optimal one-step GD risk). Each H is a separate program (the
parameter shapes differ); the seeds of one H train together under jax.vmap.

  python -m icl.sweep --config=configs/sweeps/heads.py --workdir=runs/heads
  python -m icl.sweep --config=configs/sweeps/heads.py:quick --workdir=/tmp/heads
  python -m icl.sweep --config=configs/sweeps/heads.py:linear,seeds=5 --workdir=runs/heads_lin

`--config=configs/sweeps/heads.py:<items>` takes comma-separated items, applied in
order (icl/config_variants.py): a variant name, or `alias=value` / `dotted.path=value`
(the experiment's fields are under `base.`, e.g. `base.task.noise_var=0.5`).

Variants: default (10k steps, 3 seeds), quick (a few steps, for tests), linear
(linear attention at every H).
Aliases: attention (base.model.attention), covariance (base.task.covariance),
context_len (base.task.context_len), steps (base.train.num_steps), lr (base.train.lr),
batch (base.train.batch_size), seeds (base.train.num_seeds).
Figure notebooks read runs/heads/summary.csv and runs/heads/num_heads=<H>/.
"""

import ml_collections

from configs import regression
from icl import config_variants


def _quick(c):
  c.base.train.num_steps = 40
  c.base.train.log_every = 20
  c.base.train.eval_every = 40
  c.base.train.ckpt_every = 40
  c.base.train.batch_size = 32
  c.base.train.num_seeds = 2
  c.base.eval.num_prompts = 256
  c.base.eval.batch_size = 256
  c.base.eval.context_lens = "10,40"
  c.base.probes.every = 20
  c.base.probes.num_prompts = 64
  c.base.probes.snapshots = 4


def _linear(c):
  c.base.model.attention = "linear"


VARIANTS = {
    "default": lambda c: None,
    "quick": _quick,
    "linear": _linear,
}
ALIASES = {
    "attention": "base.model.attention",
    "covariance": "base.task.covariance",
    "context_len": "base.task.context_len",
    **{alias: f"base.{path}" for alias, path in config_variants.TRAIN_ALIASES.items()},
}


def get_config(arg: str | None = None):
  c = ml_collections.ConfigDict()
  c.base = regression.get_config()  # the experiment every point starts from
  c.base.train.num_seeds = 3  # seeds per point, vmapped in one program
  c.grid = ml_collections.ConfigDict()
  c.grid.model = ml_collections.ConfigDict()
  c.grid.model.num_heads = [1, 2, 4, 8]  # H: one program (work dir) per value

  return config_variants.apply(c, arg, VARIANTS, ALIASES)
