"""An analytic FLOP model of one training step of the paper's model.

The achieved-FLOP/s section divides these counts (and XLA's own count) by the
measured step time. Only the model's arithmetic is counted: the sampler and Adam
are not, so the number says how much of the step is the model itself.
"""

from __future__ import annotations


def forward_flops_per_prompt(heads: int, dim: int = 5, length: int = 40) -> int:
  """FLOPs of one prompt's forward pass through the reassociated one-layer model.

  Tokens have width D = d + 1. Per head (icl/models/one_layer.py): two D x D
  matrix-vector products (Q_h z_q, then K_h^T of it), two L x D products (the
  scores and the softmax-weighted context) and the D-vector read-out, with a
  multiply-add counted as 2 FLOPs; plus 5 FLOPs per score for the softmax.

  Args:
    heads: number of attention heads H.
    dim: covariate dimension d.
    length: context length L.

  Returns:
    The forward FLOP count of one prompt.
  """
  width = dim + 1
  matmuls = 2 * heads * (2 * width * width + 2 * length * width + width)
  return matmuls + 5 * heads * length


def analytic_flops_per_step(heads: int, dim: int = 5, length: int = 40,
                            batch: int = 256) -> float:
  """Model FLOPs of one step: the forward of `batch` prompts, x3 for the backward
  (multiply-add = 2 FLOPs; data generation and Adam not counted)."""
  return 3.0 * forward_flops_per_prompt(heads, dim, length) * batch
