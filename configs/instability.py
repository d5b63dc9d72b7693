"""Attention-logit growth at a high learning rate, and its fixes (small-scale proxy).

Wortsman et al. (2023): at high learning rates the maximum attention logit grows
without bound and training diverges; qk-layernorm prevents it, z-loss (1e-4 log²Z)
prevents output-logit divergence. Zhai et al. (2023): σReparam bounds the spectral
norm and so the entropy collapse. Task: bigram-backcopy (next-token prediction on
all positions) with a 2-layer, 2-head transformer at lr 3e-2 (the proxy's top end);
compare the runs' loss and the max attention logit (AttnLogits probe).

  python -m icl.train --config=configs/instability.py:none --workdir=runs/inst_none
  python -m icl.train --config=configs/instability.py:qk_norm --workdir=runs/inst_qk
  python -m icl.train --config=configs/instability.py:qk_norm,z_loss,lr=0.1 --workdir=runs/inst_qkz

`--config=configs/instability.py:<items>` takes comma-separated items, applied in
order (icl/config_variants.py): a variant name, or `alias=value` / `dotted.path=value`.

Variants: none (default, nothing changed), qk_norm, sigma_reparam, z_loss (1e-4),
softcap (30). CPU default: width 64, T = 64, batch 32, 1.5k steps; on a GPU sweep lr
over {3e-4 ... 3e-1} with ``--config=configs/instability.py:d_model=256,steps=10000``.
Aliases: z_loss (train.z_loss), softcap (model.softcap), d_model (model.d_model),
layers (model.num_layers), heads (model.num_heads), seq_len (task.seq_len), steps
(train.num_steps), lr (train.lr), batch (train.batch_size), seeds (train.num_seeds).
"""

from icl import config_lib
from icl import config_variants
from icl.models import transformer


def _qk_norm(c):
  c.model.qk_norm = True


def _sigma_reparam(c):
  c.model.sigma_reparam = True


def _z_loss(c):
  c.train.z_loss = 1e-4


def _softcap(c):
  c.model.softcap = 30.0


VARIANTS = {
    "none": lambda c: None,
    "qk_norm": _qk_norm,
    "sigma_reparam": _sigma_reparam,
    "z_loss": _z_loss,
    "softcap": _softcap,
}
ALIASES = {
    "z_loss": "train.z_loss",
    "softcap": "model.softcap",
    "d_model": "model.d_model",
    "layers": "model.num_layers",
    "heads": "model.num_heads",
    "seq_len": "task.seq_len",
    **config_variants.TRAIN_ALIASES,
}


def get_config(arg: str | None = None):
  c = config_lib.base_config()

  c.task.name = "backcopy"
  c.task.vocab_size = 64  # V including BOS
  c.task.seq_len = 64  # T
  c.task.num_triggers = 3  # k trigger tokens
  c.task.zipf_exponent = 1.0  # marginal π_r ∝ r^-zipf_exponent
  c.task.concentration = 1.0  # Dirichlet concentration of the bigram rows
  c.task.table_seed = 0  # draws the bigram table

  c.model.name = "transformer"  # every field of TransformerConfig, with its default
  c.model.update(config_variants.dataclass_fields_config(transformer.TransformerConfig))
  c.model.d_model = 64
  c.model.num_layers = 2
  c.model.num_heads = 2
  c.model.mlp = True

  c.train.num_steps = 1_500
  c.train.batch_size = 32
  c.train.optimizer = "adamw"
  c.train.weight_decay = 1e-4
  c.train.lr = 3e-2  # high on purpose
  c.train.schedule = "cosine"
  c.train.warmup_steps = 100
  c.train.log_every = 50
  c.train.eval_every = 500
  c.train.ckpt_every = 500

  c.eval.num_prompts = 256
  c.eval.batch_size = 256

  return config_variants.apply(c, arg, VARIANTS, ALIASES)
