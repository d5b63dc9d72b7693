"""The regression paper's full schedule: 500k steps, H in {1, 2, 4, 8}, 3 seeds per H.

He, Pan, Chen, Yang, *In-Context Linear Regression Demystified* (ICML 2025): Adam 1e-3,
batch 256, 500k steps, d = 5, L = 40, sigma^2 = 0.1. One program (work dir) per H; its
seeds train together under jax.vmap. Checkpoints are log-spaced (all kept) so that
icl.devinterp and the probes' curves reach 5e5 steps; probes every 1k steps; the
weights' snapshots are log-spaced too.

  python -m icl.sweep --config=configs/sweeps/paper.py --workdir=runs/paper
  python -m icl.sweep --config=configs/sweeps/paper.py:h2 --workdir=runs/paper_h2
  python -m icl.sweep --config=configs/sweeps/paper.py:quick --workdir=/tmp/paper

`--config=configs/sweeps/paper.py:<items>` takes comma-separated items, applied in
order (icl/config_variants.py): a variant name, or `alias=value` / `dotted.path=value`
(the experiment's fields are under `base.`).

Variants: default (the paper's schedule), h1, h2, h4, h8 (that H only; give each its own
--workdir: a sweep dir holds one grid), quick (a few steps, for tests),
superposition (the multi-task setting, d = 6, L = 48, two outputs, H in {3, 4}),
linear (linear attention at every H).
Aliases: steps (base.train.num_steps), lr (base.train.lr), batch (base.train.batch_size),
seeds (base.train.num_seeds).
The results table (README.md, WORKSPACE_NOTES.md) reads runs/paper/summary.csv and
`python -m icl.evaluate --workdir=runs/paper/num_heads=<H>`.
"""

import ml_collections

from configs import regression
from configs.sweeps import heads
from icl import config_variants


def _superposition(c):
  regression.VARIANTS["superposition"](c.base)
  c.grid.model.num_heads = [3, 4]


def _only(num_heads: int):
  def variant(c):
    c.grid.model.num_heads = [num_heads]
  return variant


def _linear(c):
  c.base.model.attention = "linear"


VARIANTS = {
    "default": lambda c: None,
    **{f"h{h}": _only(h) for h in (1, 2, 4, 8)},
    "quick": heads.VARIANTS["quick"],
    "superposition": _superposition,
    "linear": _linear,
}
ALIASES = {
    **{alias: f"base.{path}" for alias, path in config_variants.TRAIN_ALIASES.items()},
}


def get_config(arg: str | None = None):
  c = ml_collections.ConfigDict()
  c.base = regression.get_config()
  c.base.train.num_steps = 500_000  # the paper's training length
  c.base.train.num_seeds = 3  # seeds per H, vmapped in one program
  c.base.train.log_every = 1_000  # steps per scanned chunk
  c.base.train.eval_every = 25_000  # 20 evaluations on 20,000 fresh prompts
  c.base.train.ckpt_every = 25_000
  c.base.train.ckpt_schedule = "log"  # keep_ckpts log-spaced checkpoints, all kept
  c.base.train.keep_ckpts = 16
  c.base.probes.every = 1_000  # 500 probe records per run
  c.base.probes.snapshots = 32  # log-spaced W_KQ / W_OV snapshots
  c.grid = ml_collections.ConfigDict()
  c.grid.model = ml_collections.ConfigDict()
  c.grid.model.num_heads = [1, 2, 4, 8]  # H: one program (work dir) per value

  return config_variants.apply(c, arg, VARIANTS, ALIASES)
