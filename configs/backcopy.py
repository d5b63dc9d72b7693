"""Bigram-backcopy (Guo et al., *Active-dormant attention heads*, 2024): sinks and dormant heads.

Their model: learned token + position embeddings (torch nn.Embedding, N(0, 1)), pre-LN,
1 (or 3) layers, 1 head, width 256, ReLU MLP 4x, untied read-out; AdamW (0.9, 0.99),
lr 3e-4, wd 1e-4, batch 512, 10k steps (100k for dynamics). The CPU default is width
64, batch 32, 1.5k steps at lr 1e-3 (~4 min on 2 cores): the non-trigger queries'
attention on BOS goes 0.02 -> 0.99 between steps 300 and 1000 while the BOS logit
rises by ~22 and the BOS value norm halves; trigger accuracy is 0.89 and still rising
at 1.5k. On a GPU use ``--config=configs/backcopy.py:d_model=256,batch=512,steps=10000,lr=3e-4``.

  python -m icl.train --config=configs/backcopy.py --workdir=runs/bb
  python -m icl.train --config=configs/backcopy.py:relu --workdir=runs/bb_relu
  python -m icl.train --config=configs/backcopy.py:three_layers,sigmoid --workdir=runs/bb_3s

`--config=configs/backcopy.py:<items>` takes comma-separated items, applied in order
(icl/config_variants.py): a variant name, or `alias=value` / `dotted.path=value`.

Variants: softmax (default; a BOS sink on non-trigger queries), sigmoid (no
normalisation, bias -log T; Gu et al. find no sink: the dormant rows switch off),
relu (relu(s)/i; Guo et al.: removes the sink), three_layers, tiny (for tests).
sigmoid reads T when it is applied: put seq_len=... (or tiny) before it.
Aliases: attention (model.attention), layers (model.num_layers), heads
(model.num_heads), d_model (model.d_model), seq_len (task.seq_len), vocab
(task.vocab_size), triggers (task.num_triggers), steps (train.num_steps), lr
(train.lr), batch (train.batch_size), seeds (train.num_seeds).
`python -m icl.plot --workdir=...` draws the sink dynamics in sink.png.
"""

import math

from icl import config_lib
from icl import config_variants
from icl.models import transformer


def _softmax(c):
  c.model.attention = "softmax"


def _sigmoid(c):
  c.model.attention = "sigmoid"
  c.model.sigmoid_bias = -math.log(c.task.seq_len)  # b = -log T (Ramapuram et al., 2024)


def _relu(c):
  c.model.attention = "relu"


def _three_layers(c):
  c.model.num_layers = 3


def _tiny(c):
  c.task.seq_len = 32
  c.train.num_steps = 200
  c.train.log_every = 50
  c.train.eval_every = 100
  c.train.ckpt_every = 100
  c.probes.every = 50
  c.eval.num_prompts = 64


VARIANTS = {
    "softmax": _softmax,
    "sigmoid": _sigmoid,
    "relu": _relu,
    "three_layers": _three_layers,
    "tiny": _tiny,
}
ALIASES = {
    "attention": "model.attention",
    "layers": "model.num_layers",
    "heads": "model.num_heads",
    "d_model": "model.d_model",
    "seq_len": "task.seq_len",
    "vocab": "task.vocab_size",
    "triggers": "task.num_triggers",
    **config_variants.TRAIN_ALIASES,
}


def get_config(arg: str | None = None):
  c = config_lib.base_config()

  c.task.name = "backcopy"
  c.task.vocab_size = 64  # V including BOS (token 0)
  c.task.seq_len = 256  # T
  c.task.num_triggers = 3  # k most frequent tokens trigger a back-copy
  c.task.zipf_exponent = 1.0  # marginal π_r ∝ r^-zipf_exponent
  c.task.concentration = 1.0  # bigram rows ~ Dirichlet(concentration · (V-1) · π)
  c.task.table_seed = 0  # draws the bigram table

  c.model.name = "transformer"  # every field of TransformerConfig, with its default
  c.model.update(config_variants.dataclass_fields_config(transformer.TransformerConfig))
  c.model.d_model = 64
  c.model.num_layers = 1
  c.model.num_heads = 1
  c.model.mlp = True
  c.model.positions = "learned"
  c.model.norm = "pre"
  c.model.tied_embeddings = False
  # Their token and position embeddings are torch nn.Embedding's N(0, 1) init; with the
  # transformer default 0.02 the residual stream is dominated by the first attention
  # output and the dormant head settles on self-attention instead of a BOS sink
  # (WORKSPACE_NOTES.md, bigram-backcopy). The read-out stays at 0.02.
  c.model.embed_init_std = 1.0

  c.train.num_steps = 1_500
  c.train.batch_size = 32
  c.train.optimizer = "adamw"
  c.train.b1 = 0.9
  c.train.b2 = 0.99
  c.train.weight_decay = 1e-4
  c.train.lr = 1e-3
  c.train.warmup_steps = 100
  c.train.log_every = 100
  c.train.eval_every = 500
  c.train.ckpt_every = 1_000

  c.eval.num_prompts = 256
  c.eval.batch_size = 128

  return config_variants.apply(c, arg, VARIANTS, ALIASES)
