"""MQAR accuracy against the number of pairs K and the state size d_k (linear vs softmax).

One linear-attention layer (identity features, one head, d_k = d_v = d_model) is an
associative memory M = Σ_i v_i k_iᵀ of size d_k x d_v; reading one key out of K stored
pairs picks up crosstalk of relative size ~ (K-1)/d_k, so its accuracy should fall as K
approaches d_k, later for a larger state, while softmax attention of the same width
does not (shared/spec/tasks.md, "Associative recall: MQAR"). Every model here has a
short causal convolution on q, k, v (``model.short_conv = 4``, as in Based/DeltaNet):
without it linear attention never binds a value to the key before it and sits at the
1/K of guessing at every K (the ``no_conv`` variant; lab notes, MQAR). T = 128 leaves
room for K <= 32 (4K <= T). Results: WORKSPACE_NOTES.md, "MQAR".

  python -m icl.sweep --config=configs/sweeps/mqar_pairs.py --workdir=runs/mqar_pairs
  python -m icl.sweep --config=configs/sweeps/mqar_pairs.py:softmax --workdir=runs/mqar_pairs_sm
  python notebooks/tasks_mqar_pairs.py runs/mqar_pairs runs/mqar_pairs_sm

Variants: default (linear, d_model in {8, 16, 32} x K in {2, 4, 8, 16, 32}), softmax
(the reference: d_model 16, the same K), no_conv (the plain linear attention of
configs/mqar.py:linear, 2 layers, width 32, no short convolution).
"""

import ml_collections

from configs import mqar


def get_config(variant: str | None = None):
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

  variant = variant or "default"
  if variant == "default":
    pass
  elif variant == "softmax":
    c.base.model.attention = "softmax"
    c.grid.model.d_model = [16]
  elif variant == "no_conv":
    c.base.model.num_layers = 2
    c.base.model.short_conv = 0
    c.grid.model.d_model = [32]
  else:
    raise ValueError(f"config variant {variant!r}; allowed: default, softmax, no_conv")
  return c
