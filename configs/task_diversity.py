"""Raventós et al. (2023): pretraining task diversity and non-Bayesian in-context learning.

See docs/deep_icl.md. Noisy linear regression with a finite pool of M tasks drawn
once from N(0, I_D) (``task.pool_size``; 0 = a fresh task per prompt, M = infinity);
a GPT-2-style transformer in Raventós' format (x-token (0, x), y-token (y, 0, ...),
no read-in/out bias, N(0, 0.02) read-in/out), read at the x tokens, the loss at every prefix. Compare it with
the dMMSE on the pool and ridge (lambda = sigma^2): `theory.baselines`.

CPU default (a scaled-down transition): D = 4, K = 8, sigma^2 = 0.125, M = 16, 2
layers, d_model 32, 2 heads, MLP 128, Adam lr 1e-3 with the triangle schedule (linear
warm-up over half the run, then linear decay to 0), batch 128, 8000 steps (a few
minutes). The paper's setting, for a GPU: ``--config=configs/task_diversity.py:paper``
(D = 8, K = 16, sigma^2 = 0.25, the Base model 8 layers / 128 / 2 heads, batch 256,
500k steps with 250k warm-up); sweep M over powers of 2 with ``M=...``.

  python -m icl.train --config=configs/task_diversity.py:M=4 --workdir=runs/m4
  python -m icl.train --config=configs/task_diversity.py:m_inf --workdir=runs/minf
  python -m icl.train --config=configs/task_diversity.py:paper,M=32768 --workdir=W
  python -m icl.sweep --config=configs/sweeps/task_diversity.py --workdir=runs/td
  python -m icl.evaluate.task_diversity --workdir=runs/td   # pool and fresh tasks

`python -m icl.evaluate --workdir=W` adds the per-position curves on pool and fresh
tasks (dMMSE, ridge, distances) to eval.json (icl/evaluate/curves.py).

`--config=configs/task_diversity.py:<items>` takes comma-separated items, applied in
order (icl/config_variants.py): a variant name, or `alias=value` / `dotted.path=value`.
The pool is drawn with ``task.pool_seed``, which follows ``seed``.

Variants: default (M = 16), m4, m32, m256, m_inf (M = 0: fresh tasks), devinterp
(m_inf with a checkpoint every 100 steps, all kept: the tiny transformer of
docs/devinterp.md), paper (the paper's setting; GPU), small (the paper's Small model, 4 layers / 64 / 2 heads),
quick (a few steps, for tests).
Aliases: M (task.pool_size), dim (task.dim), context_len (task.context_len),
noise_var (task.noise_var), d_model (model.d_model), layers (model.num_layers),
steps (train.num_steps), lr (train.lr), batch (train.batch_size), seeds
(train.num_seeds).
"""

from icl import config_lib
from icl import config_variants
from icl import tasks
from icl.models import gpt2


def _pool(m: int):
  def variant(c):
    c.task.pool_size = m
  return variant


def _triangle(c):
  c.train.schedule = "linear"  # decay to 0 after the warm-up
  c.train.warmup_steps = c.train.num_steps // 2


def _paper(c):
  c.task.dim, c.task.context_len, c.task.noise_var = 8, 16, 0.25
  c.model.num_layers, c.model.d_model, c.model.num_heads = 8, 128, 2
  c.train.batch_size = 256
  c.train.num_steps = 500_000
  _triangle(c)
  c.train.log_every = 1_000
  c.train.eval_every = c.train.ckpt_every = 10_000
  c.eval.num_prompts = 65_536


def _small(c):
  c.model.num_layers, c.model.d_model, c.model.num_heads = 4, 64, 2


def _devinterp(c):
  # The tiny transformer of the LLC / essential-dynamics experiment (docs/devinterp.md):
  # fresh tasks (M = infinity), a checkpoint every 100 steps, all 80 kept, so that
  # essential dynamics sees the whole trajectory and the LLC a log-plus-linear subset.
  c.task.pool_size = 0
  c.train.log_every = 100
  c.train.ckpt_every = 100
  c.train.keep_ckpts = c.train.num_steps // 100


def _quick(c):
  c.model.num_layers, c.model.d_model = 1, 16
  c.train.num_steps = 20
  _triangle(c)
  c.train.log_every = 10
  c.train.eval_every = c.train.ckpt_every = 20
  c.eval.num_prompts = 128


VARIANTS = {
    "default": lambda c: None,
    "m4": _pool(4),
    "m32": _pool(32),
    "m256": _pool(256),
    "m_inf": _pool(0),
    "devinterp": _devinterp,
    "paper": _paper,
    "small": _small,
    "quick": _quick,
}
ALIASES = {
    "M": "task.pool_size",
    "dim": "task.dim",
    "context_len": "task.context_len",
    "noise_var": "task.noise_var",
    "d_model": "model.d_model",
    "layers": "model.num_layers",
    **{k: v for k, v in config_variants.TRAIN_ALIASES.items()},
}


def get_config(arg: str | None = None):
  c = config_lib.base_config()

  c.task = config_variants.dataclass_fields_config(tasks.TASKS["noisy_linear"])
  c.task.name = "noisy_linear"
  c.task.dim = 4  # D
  c.task.context_len = 8  # K = 2D
  c.task.noise_var = 0.125  # sigma^2 (SNR of D = 8, sigma^2 = 0.25)
  c.task.pool_size = 16  # M: the pool size (0 = infinity)
  c.task.pool_seed = c.get_ref("seed")  # the pool is drawn with the run's seed

  c.model.name = "gpt2"
  c.model.update(config_variants.dataclass_fields_config(gpt2.GPT2Config))
  c.model.prompt_format = "raventos"
  c.model.io_bias = False
  c.model.io_init = "normal"
  c.model.num_layers, c.model.d_model, c.model.num_heads = 2, 32, 2

  c.train.num_steps = 8_000
  c.train.batch_size = 128
  c.train.lr = 1e-3
  _triangle(c)
  c.train.log_every = 500
  c.train.eval_every = 2_000
  c.train.ckpt_every = 2_000

  c.eval.num_prompts = 2_048
  c.eval.batch_size = 2_048
  c.probes.every = 0

  return config_variants.apply(c, arg, VARIANTS, ALIASES)
