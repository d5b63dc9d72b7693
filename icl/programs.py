"""The jits keyed on one run's Experiment, and dropping their programs after the run.

A jit that takes an `Experiment` (hashed by identity), or an object built from one
(a probe context), as a static argument caches a trace and an executable per run,
for the life of the process. A process that handles run after run (a sweep's
points one after another, a pool or Ray worker, the evaluation of a sweep dir, a
notebook) would keep every run's executables: 12 default regression points grew a
process by 37 MB each in training and 46 MB each in evaluation. Each such jit is
registered here where it is defined,

  @programs.per_run
  @functools.partial(jax.jit, static_argnums=(0,))
  def evaluate(exp, ...): ...

and `clear()` after a run drops their programs. The programs that take no run's
object (small helpers, the baselines) stay cached, and the persistent compilation
cache on disk keeps everything. (`jax.clear_caches()` frees the same memory but
also drops the shared programs: a sweep dir's evaluation took twice as long.)
"""

from __future__ import annotations

_PER_RUN: list = []


def per_run(jitted):
  """Registers a jit (anything with `clear_cache()`) keyed on a run's objects."""
  _PER_RUN.append(jitted)
  return jitted


def clear() -> None:
  """Drops the traced and compiled programs of every registered jit."""
  for jitted in _PER_RUN:
    jitted.clear_cache()
