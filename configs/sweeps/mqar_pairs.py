"""MQAR accuracy against the number of pairs K at a fixed width (linear vs softmax).

Linear attention (identity features, one head) keeps a d_k x d_v state, d_k = d_v =
d_model = 32 here; reading one key out of K stored pairs picks up crosstalk of relative
size ~ (K-1)/d_k, so its accuracy should fall as K approaches / exceeds 32, while softmax
attention of the same width stays high (shared/spec/tasks.md, "Associative recall:
MQAR"). T = 128 leaves room for K <= 32 (4K <= T). Measured (seed 0, 2k steps): linear
is at ~1/K for every K (it guesses among the context's values and never binds, even at
K = 2), so no state-size threshold shows; softmax 0.9999 at K = 8, 0.044 at K = 32.

  python -m icl.sweep --config=configs/sweeps/mqar_pairs.py --workdir=runs/mqar_pairs
  python -m icl.sweep --config=configs/sweeps/mqar_pairs.py:softmax --workdir=runs/mqar_pairs_sm
  python notebooks/09_mqar_pairs.py runs/mqar_pairs runs/mqar_pairs_sm

Variants: default (linear attention, K in {2, 4, 8, 16, 32}), softmax (K in {8, 32},
the reference).
"""

import ml_collections

from configs import mqar


def get_config(variant: str | None = None):
  c = ml_collections.ConfigDict()
  c.base = mqar.get_config("linear")
  c.base.task.seq_len = 128  # T
  c.base.model.d_model = 32  # = d_k = d_v of the single head
  c.base.train.num_steps = 2_000
  c.base.train.eval_every = 1_000
  c.base.probes.every = 0
  c.grid = ml_collections.ConfigDict()
  c.grid.task = ml_collections.ConfigDict()
  c.grid.task.num_pairs = [2, 4, 8, 16, 32]

  variant = variant or "default"
  if variant == "default":
    pass
  elif variant == "softmax":
    c.base.model.attention = "softmax"
    c.grid.task.num_pairs = [8, 32]
  else:
    raise ValueError(f"config variant {variant!r}; allowed: default, softmax")
  return c
