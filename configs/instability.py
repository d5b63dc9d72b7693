"""Attention-logit growth at a high learning rate, and its fixes (small-scale proxy).

Wortsman et al. (2023): at high learning rates the maximum attention logit grows
without bound and training diverges; qk-layernorm prevents it, z-loss (1e-4 log²Z)
prevents output-logit divergence. Zhai et al. (2023): σReparam bounds the spectral
norm and so the entropy collapse. Task: bigram-backcopy (next-token prediction on
all positions) with a 2-layer, 2-head transformer at lr 3e-2 (the proxy's top end);
compare the runs' loss and the max attention logit (AttnLogits probe).

  python -m icl.train --config=configs/instability.py:none --workdir=runs/inst_none
  python -m icl.train --config=configs/instability.py:qk_norm --workdir=runs/inst_qk

Variants: none (default), qk_norm, sigma_reparam, z_loss, softcap. CPU default:
width 64, T = 64, batch 32, 1.5k steps; on a GPU sweep lr over {3e-4 ... 3e-1} with
``--config.model.d_model=256 --config.train.num_steps=10000``.
"""

from configs import _transformer
from icl import config_lib


def get_config(variant: str | None = None):
  c = config_lib.base_config()

  c.task.name = "backcopy"
  c.task.vocab_size = 64  # V including BOS
  c.task.seq_len = 64  # T
  c.task.num_triggers = 3  # k trigger tokens
  c.task.zipf_exponent = 1.0  # marginal π_r ∝ r^-zipf_exponent
  c.task.concentration = 1.0  # Dirichlet concentration of the bigram rows
  c.task.table_seed = 0  # draws the bigram table

  _transformer.set_transformer(c.model)
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

  variant = variant or "none"
  if variant == "none":
    pass
  elif variant == "qk_norm":
    c.model.qk_norm = True
  elif variant == "sigma_reparam":
    c.model.sigma_reparam = True
  elif variant == "z_loss":
    c.train.z_loss = 1e-4
  elif variant == "softcap":
    c.model.softcap = 30.0
  else:
    raise ValueError(f"config variant {variant!r}; allowed: none, qk_norm, sigma_reparam, "
                     "z_loss, softcap")
  return c
