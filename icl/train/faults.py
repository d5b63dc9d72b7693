"""Faults during training: stop signals, non-finite values, exit statuses.

The host loop regains control only between chunks (one chunk = `train.log_every`
steps fused in one jitted scan), so a SIGTERM/SIGINT is noted by `StopSignals` and
acted on at the end of the current chunk: the trainer checkpoints that step and
raises `Preempted`. A second signal of the same kind gets its previous handler
(SIGINT: KeyboardInterrupt, SIGTERM: death), for a user who will not wait.

Non-finite values are checked before any checkpoint is written, so every
checkpoint on disk is finite; `train.skip_nonfinite` drops bad steps instead,
inside the jitted step (`keep_if_finite`).
"""

from __future__ import annotations

import signal
import threading
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

# Exit statuses of `python -m icl.train` (docs/reliability.md).
EXIT_DIVERGED = 3  # a non-finite loss or parameter; the last checkpoint is finite
EXIT_PREEMPTED = 75  # EX_TEMPFAIL: stopped by a signal after a checkpoint; rerun to resume


class Preempted(Exception):
  """Training stopped on a signal after checkpointing the current step."""


class Diverged(FloatingPointError):
  """A non-finite loss or parameter; the message names the step and checkpoint."""


class StopSignals:
  """Context manager noting SIGTERM/SIGINT in `self.received` (a signal name)."""

  SIGNALS = (signal.SIGTERM, signal.SIGINT)

  def __init__(self):
    self.received: str | None = None
    self._previous: dict[int, Any] = {}

  def _handle(self, signum, frame):
    del frame
    self.received = signal.Signals(signum).name
    logging.warning("%s received: stopping after the current chunk (send it again "
                    "to stop now, losing the steps since the last checkpoint)",
                    self.received)
    signal.signal(signum, self._previous.get(signum, signal.SIG_DFL))

  def __enter__(self) -> "StopSignals":
    if threading.current_thread() is threading.main_thread():  # else: cannot install
      for sig in self.SIGNALS:
        self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def __exit__(self, *exc) -> None:
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
    self._previous.clear()


# --- non-finite values ------------------------------------------------------------


def all_finite(tree: Any) -> jax.Array:
  """A scalar bool: every floating leaf of `tree` is finite (traceable)."""
  leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
            if jnp.issubdtype(jnp.asarray(x).dtype, jnp.inexact)]
  return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)


def keep_if_finite(ok: jax.Array, new: Any, old: Any) -> Any:
  """`new` where `ok`, else `old`, leaf by leaf (a dropped update, inside jit)."""
  return jax.tree.map(lambda n, o: jnp.where(ok, n, o), new, old)


@jax.jit
def finite_per_seed(params: Any) -> jax.Array:
  """[S] bools: seed i's parameters are all finite (leaves have a seed axis)."""
  return jax.vmap(all_finite)(params)


def first_nonfinite(losses: np.ndarray, params_ok: np.ndarray, start: int,
                    name=lambda m: f"seed {m}") -> str | None:
  """Where a chunk went bad: losses [M, n] of steps start..start+n-1, params_ok [M]
  after the chunk. None when all is finite, else 'loss at step t (seed i)';
  `name(m)` says which model m is (its seed, and its in-program sweep point)."""
  bad = ~np.isfinite(losses)
  if bad.any():
    model, index = min(zip(*np.nonzero(bad)), key=lambda si: (si[1], si[0]))
    return f"loss at step {start + int(index)} ({name(int(model))})"
  if not np.all(params_ok):
    model = int(np.argmin(params_ok))
    return f"parameters after step {start + losses.shape[1]} ({name(model)})"
  return None


def mean_of_kept(losses: np.ndarray) -> np.ndarray:
  """[S, n] losses with skipped steps as NaN -> [S] means of the rest (NaN if none)."""
  kept = np.isfinite(losses)
  total = np.where(kept, losses, 0.0).sum(axis=1)
  count = kept.sum(axis=1)
  return np.where(count > 0, total / np.maximum(count, 1), np.nan)
