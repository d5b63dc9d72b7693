"""The registry of benchmark sections and the settings they run with.

A section is a function `fn(settings, results) -> rows` registered under a name;
`rows` (a list or dict) is stored as `results[name]`. `results` holds the sections
run before it (the FLOP/s section reads the default path's steps/s). A section
that raises is recorded as `{"status": "error", "error": "<type>: <message>"}`,
so a broken measurement is a visible failure, not a missing row.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from absl import logging


@dataclasses.dataclass(frozen=True)
class Settings:
  """What a run measures: the mode's sizes and which optional parts run."""

  quick: bool  # tiny mode: few steps, H = 2 only, no cold start
  steps: int  # steps per timed block of the fast paths
  repeats: int  # timed blocks per case; the best counts
  heads: tuple[int, ...]
  attentions: tuple[str, ...]
  seed_counts: tuple[int, ...]
  with_torch: bool = True
  torch_compile: bool = True
  cold_start: bool = True

  @classmethod
  def for_mode(cls, quick: bool, steps: int = 0, repeats: int = 0,
               **options) -> Settings:
    """The full run's sizes, or the tiny mode's; 0 steps / repeats: the default."""
    return cls(quick=quick, steps=steps or (40 if quick else 1000),
               repeats=repeats or (2 if quick else 3),
               heads=(2,) if quick else (1, 2, 8),
               attentions=("softmax",) if quick else ("softmax", "linear"),
               seed_counts=(1, 4) if quick else (1, 4, 16, 64), **options)


@dataclasses.dataclass(frozen=True)
class Section:
  name: str
  fn: Callable[[Settings, dict], Any]
  when: Callable[[Settings], bool]  # whether the section runs with these settings


SECTIONS: dict[str, Section] = {}  # by name; the run order is sections.ORDER


def register(name: str, when: Callable[[Settings], bool] = lambda s: True):
  """Decorator: registers `fn(settings, results)` as section `name`."""
  def wrap(fn):
    if name in SECTIONS:
      raise ValueError(f"benchmark section {name!r} registered twice")
    SECTIONS[name] = Section(name, fn, when)
    return fn
  return wrap


def is_error(value: Any) -> bool:
  return isinstance(value, dict) and value.get("status") == "error"


def measured(results: dict, name: str) -> Any:
  """results[name] if that section ran and did not fail, else None."""
  value = results.get(name)
  return None if value is None or is_error(value) else value


def required(results: dict, name: str) -> Any:
  """results[name] for a section that needs an earlier one's rows."""
  value = results.get(name)
  if value is None or is_error(value):
    raise RuntimeError(f"needs the {name!r} section, which "
                       f"{'failed' if value is not None else 'did not run'}")
  return value


def run_section(section: Section, settings: Settings, results: dict) -> Any:
  """The section's rows, or an error record if it raised. Its wall seconds go to
  results["section_seconds"][name]."""
  t0, c0 = time.perf_counter(), time.process_time()
  try:
    value = section.fn(settings, results)
  except Exception as e:  # noqa: BLE001 -- recorded and reported; the run continues
    logging.exception("benchmark section %s failed", section.name)
    value = {"status": "error", "error": f"{type(e).__name__}: {e}"}
  wall = time.perf_counter() - t0
  results.setdefault("section_seconds", {})[section.name] = wall
  logging.info("section %s: %.1f s wall, %.1f s CPU", section.name, wall,
               time.process_time() - c0)
  return value
