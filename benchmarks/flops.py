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


def transformer_forward_flops(config, readout_positions: int | None = None) -> float:
  """Matmul FLOPs of one batch's forward pass through icl.models.transformer.

  Per layer, with B prompts of T tokens, width D, MLP width r·D: the q, k, v and
  output projections 4 · 2BTD², the scores and the weighted values 2 · 2BT²D, the
  MLP 2 · 2BTD·rD; the read-out 2BTD·NV (N output heads, V vocabulary). With
  `readout_positions` = P (the loss-position read-out), the last layer's queries,
  output projection and MLP and the read-out run on P rows instead of T (keys and
  values on all T). Layer norms, softmax, embeddings, σReparam's power iterations and
  short convolutions are elementwise or O(D²) and not counted.
  """
  m, t = config.model, config
  from icl import tasks  # the task knows V, T and N
  task = tasks.make_task(t.task)
  b, length, d = t.train.batch_size, task.seq_len, m.d_model
  vocab = task.vocab_size * getattr(task, "output_heads", 1)
  mlp = 2 * 2 * d * m.mlp_ratio * d if m.mlp else 0
  def layer(rows):  # rows = query rows
    return b * (2 * 2 * length * d * d + 2 * 2 * rows * d * d + 2 * 2 * rows * length * d
                + rows * mlp)
  p = readout_positions or length
  total = (m.num_layers - 1) * layer(length) + layer(p) if m.num_layers else 0
  return float(total + b * p * 2 * d * vocab)


def transformer_flops_per_step(config, readout_positions: int | None = None) -> float:
  """Model FLOPs of one training step: the forward x3 (the backward is ~2x)."""
  return 3.0 * transformer_forward_flops(config, readout_positions)
