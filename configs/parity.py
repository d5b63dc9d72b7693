"""Parity: in-context parity (main), sparse parity, running N-parity with curricula.

Spec: shared/spec/tasks.md, "Parity".

  python -m icl.train --config=configs/parity.py --workdir=runs/icparity
  python -m icl.train --config=configs/parity.py:sparse --workdir=runs/sparse
  python -m icl.train --config=configs/parity.py:running_multi --workdir=runs/rp_multi

Variants:
  incontext (default)  n = 10, k = 2 (45 functions, half held out), m = 40, the
                       one-layer softmax model of the regression paper. Fact: a
                       linear read-out of x_q is at chance for k >= 2. Held-out
                       accuracy needs sampling with split='all' (see the task).
  incontext_linear     the same with linear attention (exactly chance for k = 2).
  dictator             k = 1 (solvable by a linear read-out).
  sparse               Barak et al. (2022): fixed hidden S. CPU default n = 20, k = 3 so
                       the plateau-then-drop fits in minutes; the paper's n = 50
                       (``--config.task.num_bits=50``) needs ~10^5 steps (GPU).
  running_single       running N-parity, N = 2 -> 6, one stage per 1000 steps.
  running_multi        one head per N = 1..6, all trained together.
"""

from configs import _transformer
from icl import config_lib


def _incontext(c):
  c.task.name = "incontext_parity"
  c.task.dim = 10  # n bits
  c.task.subset_size = 2  # k = |S|
  c.task.context_len = 40  # m examples per prompt (spec: n, 2n or 4n)
  c.task.heldout_frac = 0.5  # fraction of the C(n, k) functions never trained on
  c.task.split_seed = 0  # draws the train / held-out split
  c.task.loss_type = "squared"  # 'squared' or 'logistic' loss on the query
  c.model.name = "one_layer"
  c.model.num_heads = 2  # H
  c.model.attention = "softmax"  # 'softmax' or 'linear'
  c.model.linear_norm = "train_len"  # linear attention divides by: 'train_len' or 'prompt_len'
  c.model.init_scale = 1.0  # multiplies the PyTorch-default init
  c.train.num_steps = 5_000
  c.train.batch_size = 256
  c.train.lr = 1e-3


def _sparse(c):
  c.task.name = "sparse_parity"
  c.task.num_bits = 20  # n (Barak et al.: 50)
  c.task.subset_size = 3  # k
  c.task.subset_seed = 0  # draws the hidden subset
  _transformer.set_transformer(c.model)
  c.model.d_model = 64
  c.model.num_layers = 2
  c.model.num_heads = 2
  c.model.mlp = True
  c.train.num_steps = 5_000
  c.train.batch_size = 128
  c.train.lr = 1e-3


def _running(c, curriculum):
  c.task.name = "running_parity"
  c.task.seq_len = 32  # T bits per stream
  c.task.max_n = 6  # N_max
  c.task.curriculum = curriculum  # 'fixed', 'single' or 'multi'
  c.task.n_start = 2  # 'single': N at step 0
  c.task.steps_per_stage = 1_000  # 'single': steps per value of N
  _transformer.set_transformer(c.model)
  c.model.d_model = 64
  c.model.num_layers = 2
  c.model.num_heads = 2
  c.model.mlp = True
  c.train.num_steps = 5_000
  c.train.batch_size = 64
  c.train.lr = 1e-3


def get_config(variant: str | None = None):
  c = config_lib.base_config()
  variant = variant or "incontext"
  if variant in ("incontext", "incontext_linear", "dictator"):
    _incontext(c)
    if variant == "incontext_linear":
      c.model.attention = "linear"
    elif variant == "dictator":
      c.task.subset_size = 1
      c.task.heldout_frac = 0.0
  elif variant == "sparse":
    _sparse(c)
  elif variant in ("running_single", "running_multi", "running_fixed"):
    _running(c, variant.split("_")[1])
  else:
    raise ValueError(f"config variant {variant!r}; allowed: incontext, incontext_linear, "
                     "dictator, sparse, running_single, running_multi, running_fixed")
  c.train.log_every = 100
  c.train.eval_every = 1_000
  c.train.ckpt_every = 1_000
  c.eval.num_prompts = 2_048
  c.eval.batch_size = 1_024
  return c
