"""Parity: in-context parity (main), sparse parity, running N-parity with curricula.

See docs/tasks.md, "Parity".

  python -m icl.train --config=configs/parity.py --workdir=runs/icparity
  python -m icl.train --config=configs/parity.py:sparse --workdir=runs/sparse
  python -m icl.train --config=configs/parity.py:running_multi --workdir=runs/rp_multi
  python -m icl.train --config=configs/parity.py:sparse,heads=4,steps=20000 --workdir=runs/sp4

`--config=configs/parity.py:<items>` takes comma-separated items, applied in order
(icl/config_variants.py): a variant name, or `alias=value` / `dotted.path=value`.
A family variant (all but `linear`) rebuilds the task and the model, so name it
first; with none, the config is `incontext`.

Variants:
  incontext (default)  n = 10, k = 2 (45 functions, half held out), m = 40, the
                       one-layer softmax model of the regression paper. Fact: a
                       linear read-out of x_q is at chance for k >= 2. Held-out
                       accuracy needs sampling with split='all' (see the task).
  incontext_linear     the same with linear attention (exactly chance for k = 2).
  dictator             k = 1 (solvable by a linear read-out).
  sparse               Barak et al. (2022): fixed hidden S. CPU default n = 20, k = 3 so
                       the plateau-then-drop fits in minutes; the paper's n = 50
                       (``:sparse,task.num_bits=50``) needs ~10^5 steps (GPU).
  running_single       running N-parity, N = 2 -> 6, one stage per 1000 steps.
  running_multi        one head per N = 1..6, all trained together.
  running_fixed        running N-parity without a curriculum.
  linear               linear attention in the family's model (composes, e.g.
                       ``:sparse,linear``).
Aliases: heads (model.num_heads), attention (model.attention), layers
(model.num_layers), d_model (model.d_model), k (task.subset_size) (not in the
running families), steps (train.num_steps), lr (train.lr), batch (train.batch_size),
seeds (train.num_seeds).
"""

import ml_collections

from icl import config_lib
from icl import config_variants
from icl.models import transformer


def _reset(c, task: str, model: str):
  """Fresh task and model sections: the variant's family replaces the one before."""
  c.task = ml_collections.ConfigDict({"name": task})  # key of icl.tasks.TASKS
  c.model = ml_collections.ConfigDict({"name": model})  # key of icl.models.MODELS


def _incontext(c):
  _reset(c, "incontext_parity", "one_layer")
  c.task.dim = 10  # n bits
  c.task.subset_size = 2  # k = |S|
  c.task.context_len = 40  # m examples per prompt (the paper: n, 2n or 4n)
  c.task.heldout_frac = 0.5  # fraction of the C(n, k) functions never trained on
  c.task.split_seed = 0  # draws the train / held-out split
  c.task.loss_type = "squared"  # 'squared' or 'logistic' loss on the query
  c.model.num_heads = 2  # H
  c.model.attention = "softmax"  # 'softmax' or 'linear'
  c.model.linear_norm = "train_len"  # linear attention divides by: 'train_len' or 'prompt_len'
  c.model.init_scale = 1.0  # multiplies the PyTorch-default init
  c.train.num_steps = 5_000
  c.train.batch_size = 256
  c.train.lr = 1e-3


def _linear(c):
  c.model.attention = "linear"


def _incontext_linear(c):
  _incontext(c)
  _linear(c)


def _dictator(c):
  _incontext(c)
  c.task.subset_size = 1
  c.task.heldout_frac = 0.0


def _transformer(c):
  """Every field of TransformerConfig with its default, then the parity models' own."""
  c.model.update(config_variants.dataclass_fields_config(transformer.TransformerConfig))
  c.model.d_model = 64
  c.model.num_layers = 2
  c.model.num_heads = 2
  c.model.mlp = True


def _sparse(c):
  _reset(c, "sparse_parity", "transformer")
  c.task.num_bits = 20  # n (Barak et al.: 50)
  c.task.subset_size = 3  # k
  c.task.subset_seed = 0  # draws the hidden subset
  _transformer(c)
  c.train.num_steps = 5_000
  c.train.batch_size = 128
  c.train.lr = 1e-3


def _running(curriculum: str):
  def variant(c):
    _reset(c, "running_parity", "transformer")
    c.task.seq_len = 32  # T bits per stream
    c.task.max_n = 6  # N_max
    c.task.curriculum = curriculum  # 'fixed', 'single' or 'multi'
    c.task.n_start = 2  # 'single': N at step 0
    c.task.steps_per_stage = 1_000  # 'single': steps per value of N
    _transformer(c)
    c.train.num_steps = 5_000
    c.train.batch_size = 64
    c.train.lr = 1e-3
  return variant


VARIANTS = {
    "incontext": _incontext,
    "incontext_linear": _incontext_linear,
    "dictator": _dictator,
    "sparse": _sparse,
    "running_single": _running("single"),
    "running_multi": _running("multi"),
    "running_fixed": _running("fixed"),
    "linear": _linear,
}
ALIASES = {
    "heads": "model.num_heads",
    "attention": "model.attention",
    "layers": "model.num_layers",
    "d_model": "model.d_model",
    "k": "task.subset_size",
    **config_variants.TRAIN_ALIASES,
}


def get_config(arg: str | None = None):
  c = config_lib.base_config()
  _incontext(c)
  c.train.log_every = 100
  c.train.eval_every = 1_000
  c.train.ckpt_every = 1_000
  c.eval.num_prompts = 2_048
  c.eval.batch_size = 1_024
  return config_variants.apply(c, arg, VARIANTS, ALIASES)
