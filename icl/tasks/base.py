"""The task contract: what every task provides, and every optional hook's default.

A task is a frozen dataclass that subclasses `Task`; its dataclass fields are exactly
the fields of ``config.task`` (minus ``name``), each with a default. Two methods are
required; every other capability is a hook declared here with its default, so the
trainer, the evaluator and the probes call it unconditionally (no ``getattr`` or
``hasattr``): a task overrides only what it has.

Required:
  sample(key, batch_size, *, step=None, **options) -> batch
      A dict of arrays drawn on device from `key` alone (a pure function of it, so a
      run is reproducible and resumable at any step). `step` is the training step,
      for tasks whose distribution follows a curriculum (ignored otherwise).
      `options` are the task's own keyword arguments (e.g. ``context_len`` for
      tasks with `varies_context_len`, ``split`` for in-context parity).
  loss(pred, batch) -> scalar
      The training loss of the model's prediction.

Hooks (defaults below):
  metrics(pred, batch) -> {name: scalar}   extra evaluation metrics ("acc", ...)
  per_prompt_error(pred, batch) -> [B]     per-prompt error whose mean is the loss,
                                           for the loss's Monte-Carlo standard error
  eval_sample_kwargs                       `sample` options used in evaluation
  varies_context_len                       `sample` takes ``context_len=L`` (evaluation
                                           at other prompt lengths)
  query_groups(batch) -> {name: [B, T]}    query-position groups for the attention
                                           probes (e.g. trigger vs non-trigger)
  probe_subset                             [k] token positions whose attention mass
                                           the probes record (sparse parity's subset)
  num_outputs                              label slots per token in the regression
                                           format (x, y) the one-layer model reads;
                                           None for token tasks
  output_heads                             output heads a token model predicts per
                                           position (running parity's curriculum)
  theory_noise_var                         the label-noise variance the regression
                                           theory uses (reduced loss); None when the
                                           task is not noisy linear regression
  trivial_loss()                           the loss of the best input-independent
                                           predictor (a scale for divergence checks)
  loss_positions(batch) -> [B, P] int      token positions that carry the whole loss
                                           (a fixed count P per prompt); None: all.
                                           Then loss(pred at those positions, batch
                                           with targets / loss_mask gathered there)
                                           equals loss(pred, batch)
"""

from __future__ import annotations

from typing import Any

import jax

Batch = dict[str, jax.Array]


class Task:
  """Base class of every task: required methods and the hooks' defaults."""

  # --- required ------------------------------------------------------------------

  def sample(self, key: jax.Array, batch_size: int, *, step=None, **options) -> Batch:
    raise NotImplementedError(f"{type(self).__name__}.sample")

  def loss(self, pred: jax.Array, batch: Batch) -> jax.Array:
    raise NotImplementedError(f"{type(self).__name__}.loss")

  # --- hooks ---------------------------------------------------------------------

  varies_context_len = False
  num_outputs: int | None = None
  output_heads = 1
  probe_subset: Any = None

  def metrics(self, pred: jax.Array, batch: Batch) -> dict[str, jax.Array]:
    del pred, batch
    return {}

  def per_prompt_error(self, pred: jax.Array, batch: Batch) -> jax.Array | None:
    del pred, batch
    return None

  @property
  def eval_sample_kwargs(self) -> dict[str, Any]:
    return {}

  def query_groups(self, batch: Batch) -> dict[str, jax.Array] | None:
    del batch
    return None

  @property
  def theory_noise_var(self) -> float | None:
    return None

  def trivial_loss(self) -> float | None:
    return None

  def loss_positions(self, batch: Batch) -> jax.Array | None:
    del batch
    return None
