"""Multi-query associative recall (Arora et al., *Zoology*, 2023) with a 2-layer causal transformer.

Their setting: V = 8192, (T, K) in {(64,4), (128,8), (256,16), (512,64)}, 2 layers,
no MLP, 1 head, learned positions, d_model 64-512, AdamW wd 0.1, cosine decay, lr
best of {1e-4, 4.6e-4, 2.2e-3, 1e-2}. The CPU default here (V = 512, T = 64, K = 4,
d = 64, 3k steps of batch 64) finishes in a few minutes; on a GPU use e.g.
``--config=configs/mqar.py:vocab=8192,seq_len=256,pairs=16,batch=256,steps=20000``.

  python -m icl.train --config=configs/mqar.py --workdir=runs/mqar
  python -m icl.train --config=configs/mqar.py:linear --workdir=runs/mqar_linear
  python -m icl.train --config=configs/mqar.py:linear_conv,pairs=8 --workdir=runs/mqar_k8

`--config=configs/mqar.py:<items>` takes comma-separated items, applied in order
(icl/config_variants.py): a variant name, or `alias=value` / `dotted.path=value`.

Variants: default (softmax, nothing changed), linear (identity features,
unnormalised: the associative memory Σ v kᵀ), linear_elu (elu+1 features,
row-normalised), linear_conv (linear with a short causal convolution of length 4 on
q, k, v, as in Based), one_layer (expected to fail), long (T = 256, K = 16; GPU),
tiny (for tests), fast (V = 64, T = 32, K = 4, 800 steps at lr 3e-3: softmax (seed 0)
reaches 1.0 in ~32 s on one core while linear attention stays near 1/K; for
tests/test_phenomena.py, which sets model.attention).
Aliases: attention (model.attention), heads (model.num_heads), layers
(model.num_layers), d_model (model.d_model), short_conv (model.short_conv), vocab
(task.vocab_size), seq_len (task.seq_len), pairs (task.num_pairs), steps
(train.num_steps), lr (train.lr), batch (train.batch_size), seeds (train.num_seeds).
"""

from icl import config_lib
from icl import config_variants
from icl.models import transformer


def _linear(c):
  c.model.attention = "linear"


def _linear_elu(c):
  c.model.attention = "linear"
  c.model.feature_map = "elu1"
  c.model.linear_normalizer = "sum"


def _linear_conv(c):
  c.model.attention = "linear"
  c.model.short_conv = 4


def _one_layer(c):
  c.model.num_layers = 1


def _long(c):
  c.task.vocab_size = 8192
  c.task.seq_len = 256
  c.task.num_pairs = 16
  c.model.d_model = 128
  c.train.batch_size = 256
  c.train.num_steps = 20_000


def _fast(c):  # tests/test_phenomena.py: softmax solves it, linear does not
  c.task.vocab_size = 64
  c.task.seq_len = 32
  c.train.num_steps = 800
  c.train.lr = 3e-3
  c.train.warmup_steps = 80
  c.train.log_every = 400
  c.train.eval_every = c.train.ckpt_every = 800
  c.probes.every = 0
  c.eval.num_prompts = 512


def _tiny(c):
  c.task.vocab_size = 64
  c.task.seq_len = 32
  c.model.d_model = 32
  c.train.num_steps = 200
  c.train.log_every = 50
  c.train.eval_every = 100
  c.train.ckpt_every = 100
  c.probes.every = 50
  c.eval.num_prompts = 256


VARIANTS = {
    "default": lambda c: None,
    "linear": _linear,
    "linear_elu": _linear_elu,
    "linear_conv": _linear_conv,
    "one_layer": _one_layer,
    "long": _long,
    "fast": _fast,
    "tiny": _tiny,
}
ALIASES = {
    "attention": "model.attention",
    "heads": "model.num_heads",
    "layers": "model.num_layers",
    "d_model": "model.d_model",
    "short_conv": "model.short_conv",
    "vocab": "task.vocab_size",
    "seq_len": "task.seq_len",
    "pairs": "task.num_pairs",
    **config_variants.TRAIN_ALIASES,
}


def get_config(arg: str | None = None):
  c = config_lib.base_config()

  c.task.name = "mqar"
  c.task.vocab_size = 512  # V: keys from {1..V/2-1}, values from {V/2..V-1}, 0 = filler
  c.task.seq_len = 64  # T
  c.task.num_pairs = 4  # K key-value pairs, each queried once
  c.task.power_a = 0.01  # query gaps P(g) ∝ (g+1)^(a-1)
  c.task.random_filler = False  # filler uniform over V (zoology's option) instead of 0

  c.model.name = "transformer"  # every field of TransformerConfig, with its default
  c.model.update(config_variants.dataclass_fields_config(transformer.TransformerConfig))
  c.model.d_model = 64
  c.model.num_layers = 2
  c.model.num_heads = 1
  c.model.mlp = False
  c.model.positions = "learned"

  c.train.num_steps = 3_000
  c.train.batch_size = 64
  c.train.optimizer = "adamw"
  c.train.weight_decay = 0.1
  c.train.lr = 2.2e-3
  c.train.schedule = "cosine"
  c.train.warmup_steps = 100
  c.train.log_every = 100
  c.train.eval_every = 500
  c.train.ckpt_every = 1_000

  c.eval.num_prompts = 1_024
  c.eval.batch_size = 512

  return config_variants.apply(c, arg, VARIANTS, ALIASES)
