"""MQAR accuracy against the number of pairs K and the state size d_k (linear vs softmax).

One linear-attention layer (identity features, one head, d_k = d_v = d_model) is an
associative memory M = Σ_i v_i k_iᵀ of size d_k x d_v; reading one key out of K stored
pairs picks up crosstalk of relative size ~ (K-1)/d_k, so its accuracy should fall as K
approaches d_k, later for a larger state, while softmax attention of the same width
does not (docs/tasks.md, "Associative recall: MQAR"). Every model here has a
short causal convolution on q, k, v (``model.short_conv = 4``, as in Based/DeltaNet):
without it linear attention never binds a value to the key before it and sits at the
1/K of guessing at every K (the ``no_conv`` variant; lab notes, MQAR). T = 128 leaves
room for K <= 32 (4K <= T). Results: WORKSPACE_NOTES.md, "MQAR".

  python -m icl.sweep --config=configs/sweeps/mqar_pairs.py --workdir=runs/mqar_pairs
  python -m icl.sweep --config=configs/sweeps/mqar_pairs.py:softmax --workdir=runs/mqar_pairs_sm
  python notebooks/tasks_mqar_pairs.py runs/mqar_pairs runs/mqar_pairs_sm
  python -m icl.sweep --config=configs/sweeps/mqar_pairs.py:softmax,steps=4000 --workdir=runs/mp

`--config=configs/sweeps/mqar_pairs.py:<items>` takes comma-separated items, applied in
order (icl/config_variants.py): a variant name, or `alias=value` / `dotted.path=value`
(the experiment's fields are under `base.`, e.g. `base.task.power_a=0.1`).

Variants: default (linear, d_model in {8, 16, 32} x K in {2, 4, 8, 16, 32}), softmax
(the reference: d_model 16, the same K), no_conv (the plain linear attention of
configs/mqar.py:linear, 2 layers, width 32, no short convolution).
Aliases: attention (base.model.attention), layers (base.model.num_layers), short_conv
(base.model.short_conv), seq_len (base.task.seq_len), vocab (base.task.vocab_size),
steps (base.train.num_steps), lr (base.train.lr), batch (base.train.batch_size),
seeds (base.train.num_seeds).
"""

import ml_collections

from configs import mqar
from icl import config_variants


def _softmax(c):
  c.base.model.attention = "softmax"
  c.grid.model.d_model = [16]


def _no_conv(c):
  c.base.model.num_layers = 2
  c.base.model.short_conv = 0
  c.grid.model.d_model = [32]


VARIANTS = {
    "default": lambda c: None,
    "softmax": _softmax,
    "no_conv": _no_conv,
}
ALIASES = {
    "attention": "base.model.attention",
    "layers": "base.model.num_layers",
    "short_conv": "base.model.short_conv",
    "seq_len": "base.task.seq_len",
    "vocab": "base.task.vocab_size",
    **{alias: f"base.{path}" for alias, path in config_variants.TRAIN_ALIASES.items()},
}


def get_config(arg: str | None = None):
  c = ml_collections.ConfigDict()
  c.base = mqar.get_config("linear")
  c.base.task.seq_len = 128  # T
  c.base.model.num_layers = 1  # one memory M = Σ v kᵀ per head
  c.base.model.short_conv = 4  # lets a value's position carry the key before it
  c.base.train.num_steps = 2_000
  c.base.train.eval_every = 1_000
  c.base.probes.every = 0
  c.grid = ml_collections.ConfigDict()
  c.grid.model = ml_collections.ConfigDict()
  c.grid.model.d_model = [8, 16, 32]  # = d_k = d_v of the single head
  c.grid.task = ml_collections.ConfigDict()
  c.grid.task.num_pairs = [2, 4, 8, 16, 32]

  return config_variants.apply(c, arg, VARIANTS, ALIASES)
