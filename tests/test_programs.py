"""icl/programs.py: one jit per run object, its programs dropped with the object."""

import gc

import jax
import jax.numpy as jnp
import pytest
from jax.extend import backend

from icl import programs


class Run:
  """A stand-in for an Experiment: compared by identity, read inside the program."""

  def __init__(self, scale: float):
    self.scale = scale


calls = []


@programs.per_run(static_argnums=(0, 2), donate_argnums=(1,))
def scaled(run: Run, x: jax.Array, power: int = 1) -> jax.Array:
  calls.append(power)  # once per trace
  return run.scale * x ** power


def live_executables() -> int:
  gc.collect()
  return len(backend.get_backend().live_executables())


def test_each_run_object_gets_its_own_program_and_keeps_the_static_arguments():
  a, b = Run(2.0), Run(3.0)
  calls.clear()
  assert float(scaled(a, jnp.full((3,), 2.0))[0]) == 4.0
  assert float(scaled(a, jnp.full((3,), 2.0), 2)[0]) == 8.0
  assert float(scaled(a, jnp.full((3,), 2.0))[0]) == 4.0  # cached
  assert float(scaled(a, jnp.full((3,), 2.0), power=3)[0]) == 16.0  # static by name
  assert float(scaled(b, jnp.full((3,), 2.0))[0]) == 6.0
  assert calls == [1, 2, 3, 1]  # a's three static powers, then b's own trace
  assert scaled.jit(a) is scaled.jit(a) and scaled.jit(a) is not scaled.jit(b)
  traced = scaled.trace(a, jnp.ones(3), 3)
  assert [v.aval.shape for v in traced.jaxpr.jaxpr.invars] == [(3,)]  # no run argument
  x = jnp.ones(3)
  scaled(a, x)
  assert x.is_deleted()  # donated, as the declaration says


def test_a_run_objects_programs_go_with_it():
  float(scaled(Run(1.0), jnp.ones(3))[0])  # the shared helpers (ones, [0]) compile once
  before = live_executables()
  run = Run(5.0)
  assert float(scaled(run, jnp.ones(3))[0]) == 5.0
  assert live_executables() == before + 1
  assert programs.live() >= 1
  del run  # nothing but the caller held it: its jit and executable go now
  assert live_executables() == before


def test_clear_drops_every_program_and_the_objects_stay_usable():
  run = Run(2.0)
  scaled(run, jnp.ones(3))
  programs.clear()
  assert programs.live() == 0
  assert float(scaled(run, jnp.ones(3))[0]) == 2.0  # traced again


def test_the_run_object_must_be_a_static_argument():
  with pytest.raises(ValueError, match="argument 0"):
    programs.per_run(lambda run, x: x, static_argnums=(1,))
