"""A command-line program's start-up: no garbage collection while it imports and
traces.

Importing jax and flax and tracing a run's programs leave hundreds of thousands of
objects alive and little cyclic garbage, yet Python's collector walks the young
ones every few hundred allocations and everything alive on each full collection
(three during the imports): 0.2 s of the 1.0 s of imports of `python -m icl.train`
on a 2-core CPU.
A program's ``__main__`` calls `pause()` before its imports; the trainer calls
`resume()` when its training loop starts, which freezes everything alive then
(``gc.freeze``: later collections do not walk it again) and turns collection back
on. In a process that never paused (a library user, a notebook, a test) both do
nothing.
"""

from __future__ import annotations

import gc

_paused = False


def pause() -> None:
  """Turns garbage collection off until `resume()` (when it was on)."""
  global _paused
  if gc.isenabled():
    gc.disable()
    _paused = True


def resume() -> None:
  """Freezes what is alive and turns collection back on, after a `pause()`."""
  global _paused
  if _paused:
    gc.freeze()
    gc.enable()
    _paused = False


def paused() -> bool:
  return _paused
