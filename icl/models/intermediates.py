"""Named capture points: the intermediates a model `sow`s for probes.

Every model in `icl.models` records its attention through these typed
`nnx.Intermediate` subclasses, under stable names, so a probe never re-implements a
forward pass. Capture them with ``nnx.capture(model, AttnWeights)(batch)``; the
returned state maps the sowing module's path to the value.

Names and shapes (per attention layer; a layer's path names it):
  AttnWeights  "attn_weights"  [B, H, Lq, Lk]  post-normalisation attention weights
  AttnLogits   "attn_logits"   [B, H, Lq, Lk]  pre-normalisation scores (masked entries -inf
                                              for softmax, 0 weight for the others)
  ValueStates  "value_norms"   [B, H, Lk]      |V_h z_k|, the value-state norm per key
"""

from flax import nnx


class AttnWeights(nnx.Intermediate):
  """Attention weights after softmax (or the kind's normalisation)."""


class AttnLogits(nnx.Intermediate):
  """Attention scores before normalisation."""


class ValueStates(nnx.Intermediate):
  """Per-key value-state norms."""
