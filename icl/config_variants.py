"""Config variants that compose, and config fields generated from a dataclass.

A config file's ``get_config(arg)`` builds its default config and hands `arg`, the
text after ``:`` in ``--config=configs/x.py:<arg>``, to `apply`. `arg` is empty or
comma-separated items, applied left to right:

  name         a variant of the file, a function that edits the config in place
  key=value    sets one existing field: `key` is an alias the file declares
               (``heads`` -> ``model.num_heads``) or a dotted path (``train.lr``);
               `value` is parsed to the type of the field's current value

  --config=configs/regression.py:linear,tiny
  --config=configs/regression.py:heads=4,attention=linear,train.lr=3e-3

Later items win, so a variant that rebuilds a section (e.g. a task family) goes
first. Every failure is a `VariantError` (a ValueError) with one line naming the
item and what is allowed. `dataclass_fields_config` turns a model's config
dataclass into the config fields with their defaults, so a config file never copies
them.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Mapping

import ml_collections

Variant = Callable[[ml_collections.ConfigDict], None]  # edits the config in place

# Aliases of the training fields every experiment has; a config file adds its own.
TRAIN_ALIASES = {
    "steps": "train.num_steps",
    "lr": "train.lr",
    "batch": "train.batch_size",
    "seeds": "train.num_seeds",
}

_TRUE, _FALSE = ("True", "true"), ("False", "false")


class VariantError(ValueError):
  """An item of a config variant string is unknown or has a bad value (one line)."""


def describe(named: Mapping[str, Variant], aliases: Mapping[str, str]) -> str:
  """'variants: a, b; aliases: heads=model.num_heads, ...' (the allowed items)."""
  pairs = ", ".join(f"{k}={v}" for k, v in aliases.items()) or "none"
  return (f"variants: {', '.join(named) or 'none'}; aliases: {pairs}; "
          "or a dotted field path, e.g. train.lr=0.01")


def split_items(arg: str | None) -> list[str]:
  """'linear, heads=4,' -> ['linear', 'heads=4'] (blank items dropped)."""
  return [item.strip() for item in (arg or "").split(",") if item.strip()]


def parse_value(text: str, current, path: str, item: str):
  """`text` parsed to the type of `current`, the field's value now: bool
  (True/False/true/false), int, float or str. Raises VariantError otherwise."""
  def fail(what: str):  # ends without a quote: icl.cli strips one from its messages
    raise VariantError(f"config variant item {item!r}: {text!r} is not {what} ({path})")
  if isinstance(current, bool):
    if text in _TRUE + _FALSE:
      return text in _TRUE
    fail("a bool: True, False, true or false")
  if isinstance(current, int):
    try:
      return int(text)
    except ValueError:
      fail("an int")
  if isinstance(current, float):
    try:
      return float(text)
    except ValueError:
      fail("a float")
  if isinstance(current, str):
    return text
  raise VariantError(
      f"config variant item {item!r}: {path} holds a {type(current).__name__}; a variant "
      f"sets only bool, int, float and str fields (use --config.{path}=...)")


def locate(config: ml_collections.ConfigDict, path: str):
  """(the section holding the last part of `path`, that part), or None if the
  config has no field at `path`."""
  *sections, key = path.split(".")
  node = config
  for part in sections:
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      return None
    node = node[part]
  if not isinstance(node, ml_collections.ConfigDict) or key not in node:
    return None
  return node, key


def set_field(config: ml_collections.ConfigDict, item: str,
              aliases: Mapping[str, str], allowed: str = "") -> None:
  """Applies one `key=value` item to `config` in place."""
  key, text = (part.strip() for part in item.split("=", 1))
  path = aliases.get(key, key)
  found = locate(config, path)
  if found is None:
    if key in aliases:
      raise VariantError(f"config variant item {item!r}: alias {key} names {path}, "
                         "which this config does not have")
    raise VariantError(f"config variant item {item!r}: no config field {key!r}; "
                       f"{allowed}")
  section, name = found
  section[name] = parse_value(text, section[name], path, item)


def apply(config: ml_collections.ConfigDict, arg: str | None,
          named: Mapping[str, Variant],
          aliases: Mapping[str, str] | None = None) -> ml_collections.ConfigDict:
  """Applies the items of `arg` to `config` in order and returns it.

  An item `name` calls ``named[name](config)``; an item `key=value` sets the field
  ``aliases.get(key, key)`` (a dotted path) to `value` parsed to the field's type.
  Raises VariantError (one line) for an unknown name or field or a bad value."""
  aliases = dict(aliases or {})
  allowed = describe(named, aliases)
  for item in split_items(arg):
    if "=" in item:
      set_field(config, item, aliases, allowed)
    elif item in named:
      named[item](config)
    else:
      raise VariantError(f"config variant {item!r} is unknown; {allowed}")
  return config


def dataclass_fields_config(cls) -> ml_collections.ConfigDict:
  """Every constructor field of dataclass `cls` with its default, in declaration
  order. Raises TypeError for a field without a default or with the placeholder
  default None (a config field has a real value from the start)."""
  if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
    raise TypeError(f"{cls!r} is not a dataclass")
  fields = ml_collections.ConfigDict()
  for field in dataclasses.fields(cls):
    if not field.init:
      continue
    if field.default is not dataclasses.MISSING:
      value = field.default
    elif field.default_factory is not dataclasses.MISSING:
      value = field.default_factory()
    else:
      raise TypeError(f"{cls.__name__}.{field.name} has no default")
    if value is None:
      raise TypeError(f"{cls.__name__}.{field.name} defaults to None; give it a real default")
    fields[field.name] = value
  return fields
