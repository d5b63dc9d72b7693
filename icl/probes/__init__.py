"""Probes: what a model has learned, read from its weights and captured activations.

One probe family per file:
  weights.py        merged W_KQ / W_OV per head, spectral norms, the regression
                    paper's pattern probes (omega, mu, diagonal ratio, ...)
  attention.py      entropy, sink score and Sink metric, max logit, value norms, from
                    the AttnWeights / AttnLogits / ValueStates a model sows
  gd_alignment.py   LSA vs gradient descent: effective preconditioner, initial guess,
                    sensitivity cosine to GD (von Oswald et al.)
  interventions.py  ablate / scale a head, clamp its attention; loss change
  recording.py      every probe of one seed as a pure function, inside the jitted
                    training scan (`ProbeContext`: what probes read)
  schedule.py       probe and snapshot cadences
  snapshots.py      W_KQ / W_OV snapshot files

Probes import nothing from the trainer. Keys in metrics.jsonl: docs/probes.md.
"""

from icl.probes import attention, gd_alignment, interventions, recording, schedule, snapshots, weights
from icl.probes.recording import ProbeContext

__all__ = ["ProbeContext", "attention", "gd_alignment", "interventions", "recording", "schedule",
           "snapshots", "weights"]
