"""Noisy linear functions (Garg et al. 2022, App. B; Raventós et al. 2023, Sec. 2).

See docs/deep_icl.md. As `linear.LinearTask` with label noise y = w.x + N(0, sigma^2)
on the context and the targets; with ``pool_size`` = M > 0 it is Raventós' finite
pool (D = 8, K = 16, sigma^2 = 0.25, M tasks drawn once). Garg's evaluation rescales
y by the batch's standard deviation; this task does not (the noisy-least-squares
closed form is against unscaled y). Normalised error: squared error / d.
"""

from __future__ import annotations

import dataclasses

from icl.tasks import linear


@dataclasses.dataclass(frozen=True)
class NoisyLinearTask(linear.LinearTask):
  """Linear regression with label noise (Raventós' task with a finite pool)."""

  dim: int = 8  # D
  context_len: int = 16  # K
  noise_var: float = 0.25  # sigma^2 of the label noise
