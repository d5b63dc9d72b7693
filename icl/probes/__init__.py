"""Probes: what a model has learned, read from its weights and captured activations.

One probe family per file:
  weights.py        merged W_KQ / W_OV per head, spectral norms, the regression
                    paper's pattern probes (omega, mu, diagonal ratio, ...)
  attention.py      entropy, sink score and Sink metric, max logit, value norms, from
                    the AttnWeights / AttnLogits / ValueStates a model sows
  interventions.py  ablate / scale a head, clamp its attention; loss change
  recording.py      probes inside the jitted training scan; metrics.jsonl keys;
                    W_KQ / W_OV snapshots

Keys in metrics.jsonl: docs/probes.md.
"""

from icl.probes import attention, interventions, recording, weights

__all__ = ["attention", "interventions", "recording", "weights"]
