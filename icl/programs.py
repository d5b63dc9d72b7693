"""Jits keyed on one run's object: one jit per Experiment, freed with it.

A function that takes a run's `Experiment` (or an object built from one, a probe
context) and is jitted with it as a static argument would cache a trace and an
executable per run for the life of the process: the jit's cache holds the
Experiment. A process that handles run after run (a sweep's points one after
another, a pool or Ray worker, the evaluation of a sweep dir, a notebook, a loop
over `trainer.train_and_evaluate`) would keep every run's executables: 12 default
regression points grew a process by 37 MB each in training and 46 MB each in
evaluation.

Such a function is declared here instead,

  @programs.per_run(static_argnums=(0, 3))
  def evaluate(exp, params, key, num_prompts): ...

and called as before, ``evaluate(exp, params, key, 20_000)``. Each run's object gets
its own ``jax.jit`` of a function that reads the object through a weak reference,
so nothing but the caller holds it: when the Experiment is gone, its jit goes, and
with the jit its traces and executables (JAX keys its caches on the jitted
function). The programs that take no run's object (small helpers, the baselines)
stay cached as usual, and the persistent compilation cache on disk keeps
everything. `clear()` drops every run's programs at once (the objects stay usable:
their next call traces again). (`jax.clear_caches()` frees the same memory but also
drops the shared programs: a sweep dir's evaluation took twice as long.)

This module imports nothing of icl: the probes and the evaluation use it.
"""

from __future__ import annotations

import functools
import inspect
import weakref
from typing import Any, Callable

import jax

_PER_RUN: list[RunJit] = []


class RunJit:
  """``jax.jit(fn, static_argnums, donate_argnums)`` for ``fn(key, *args)`` with the
  key (argument 0, static) an object compared by identity: one jit per key object
  and per set of compiler options (``options(key)``, a dict, default none), dropped
  when the object is. ``trace`` / ``lower`` take the same arguments as a call;
  ``jit(key)`` is the key's own jit, called without the key."""

  def __init__(self, fn: Callable, *, static_argnums: tuple[int, ...] = (0,),
               donate_argnums: tuple[int, ...] = (),
               options: Callable[[Any], dict] | None = None):
    if 0 not in static_argnums or 0 in donate_argnums:
      raise ValueError(f"{fn.__qualname__}: argument 0 (the run's object) must be static")
    functools.update_wrapper(self, fn)
    self._fn, self._options = fn, options
    params = list(inspect.signature(fn).parameters.values())
    self._signature = inspect.Signature(params[1:])  # the key's jit: without the key
    self._jit_kwargs = {"static_argnums": tuple(i - 1 for i in static_argnums if i),
                        "donate_argnums": tuple(i - 1 for i in donate_argnums)}
    self._jits: dict[tuple, Any] = {}
    _PER_RUN.append(self)

  def jit(self, key, compiler_options: dict | None = None):
    """The jit of `key` (its arguments: fn's without the key), compiled with
    `compiler_options` (default ``options(key)``)."""
    if compiler_options is None:
      compiler_options = self._options(key) if self._options else {}
    slot = (id(key), tuple(sorted(compiler_options.items())))
    jitted = self._jits.get(slot)
    if jitted is None:
      jitted = self._jits[slot] = self._new_jit(weakref.ref(key), compiler_options)
      weakref.finalize(key, self._jits.pop, slot, None)
    return jitted

  def _new_jit(self, ref: weakref.ref, compiler_options: dict):
    fn = self._fn

    def run(*args, **kwargs):
      return fn(ref(), *args, **kwargs)

    functools.update_wrapper(run, fn)  # the program's name: jit_<fn>
    run.__signature__ = self._signature  # static arguments by name, as fn's
    return jax.jit(run, compiler_options=compiler_options or None, **self._jit_kwargs)

  def __call__(self, key, *args, **kwargs):
    return self.jit(key)(*args, **kwargs)

  def trace(self, key, *args, **kwargs):
    return self.jit(key).trace(*args, **kwargs)

  def lower(self, key, *args, **kwargs):
    return self.jit(key).lower(*args, **kwargs)

  def clear(self) -> None:
    """Drops the jits (and programs) of every key."""
    self._jits.clear()


def per_run(fn: Callable | None = None, **kwargs):
  """Declares `fn(key, ...)` a `RunJit` (``@per_run`` or ``@per_run(static_argnums=
  ..., donate_argnums=..., options=...)``)."""
  if fn is None:
    return lambda f: RunJit(f, **kwargs)
  return RunJit(fn, **kwargs)


def live() -> int:
  """The run jits alive now (one per key object and option set)."""
  return sum(len(r._jits) for r in _PER_RUN)  # pylint: disable=protected-access


def clear() -> None:
  """Drops the programs of every run now (not needed between runs: a run's programs
  go with its objects)."""
  for jitted in _PER_RUN:
    jitted.clear()
