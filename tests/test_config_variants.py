"""Config variants (icl/config_variants.py): parsing, composition, one-line errors, and
the resolved config of every config file and named variant against a fixture.

tests/config_variants_fixture.json holds ``get_config(name).to_dict()`` of every
config file and named variant ("" = no variant), written by the if-branch config
files before variants composed. After a deliberate change to a resolved config,
rewrite it with ``PYTHONPATH=. python -m tests.test_config_variants --write-fixture``.
"""

import dataclasses
import glob
import importlib
import json
import os
import sys

import ml_collections
import pytest

from icl import config_lib
from icl import config_variants as cv
from tests.conftest import REPO, run_cli

FIXTURE = os.path.join(os.path.dirname(__file__), "config_variants_fixture.json")
CONFIG_FILES = sorted(
    os.path.relpath(p, os.path.join(REPO, "configs"))[:-3].replace(os.sep, ".")
    for p in glob.glob(os.path.join(REPO, "configs", "**", "*.py"), recursive=True))


def _module(name: str):
  return importlib.import_module(f"configs.{name}")


def _fixture() -> dict:
  with open(FIXTURE) as f:
    return json.load(f)


def _typed(tree):
  """Nested dict/list with every leaf as (type name, value): 1 != 1.0 != True."""
  if isinstance(tree, dict):
    return {k: _typed(v) for k, v in tree.items()}
  if isinstance(tree, (list, tuple)):
    return [_typed(v) for v in tree]
  return (type(tree).__name__, tree)


def _config():
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.train = ml_collections.ConfigDict()
  c.train.lr = 1e-3
  c.train.num_steps = 100
  c.train.skip_nonfinite = False
  c.train.schedule = "constant"
  c.train.grid = [1, 2]
  c.model = ml_collections.ConfigDict()
  c.model.num_heads = 2
  return c


ALIASES = {"heads": "model.num_heads", "lr": "train.lr", "gone": "task.dim"}


def _named(log: list):
  def variant(name, **fields):
    def f(c):
      log.append(name)
      for path, value in fields.items():
        section, key = path.split("__")
        c[section][key] = value
    return f
  return {"one": variant("one", model__num_heads=1), "eight": variant("eight", model__num_heads=8),
          "long": variant("long", train__num_steps=1000)}


# --- parsing ----------------------------------------------------------------------

@pytest.mark.parametrize("item,path,value", [
    ("heads=4", "model.num_heads", 4),
    ("model.num_heads=4", "model.num_heads", 4),
    ("train.num_steps=10_000", "train.num_steps", 10_000),
    ("lr=3e-3", "train.lr", 3e-3),
    ("train.lr=1", "train.lr", 1.0),
    ("train.skip_nonfinite=True", "train.skip_nonfinite", True),
    ("train.skip_nonfinite=true", "train.skip_nonfinite", True),
    ("train.skip_nonfinite=False", "train.skip_nonfinite", False),
    ("train.skip_nonfinite=false", "train.skip_nonfinite", False),
    ("train.schedule=cosine", "train.schedule", "cosine"),
    ("train.schedule=", "train.schedule", ""),
    ("train.schedule=1e-3", "train.schedule", "1e-3"),
    ("seed=3", "seed", 3),
    (" heads = 4 ", "model.num_heads", 4),
])
def test_values_parse_to_the_field_type(item, path, value):
  c = cv.apply(_config(), item, {}, ALIASES)
  got = c
  for part in path.split("."):
    got = got[part]
  assert (type(got), got) == (type(value), value)


def test_no_items_change_nothing():
  for arg in (None, "", " , ,"):
    assert cv.apply(_config(), arg, {}, ALIASES).to_dict() == _config().to_dict()


@pytest.mark.parametrize("arg,needle", [
    ("eleven", "config variant 'eleven' is unknown; variants: one, eight, long; aliases: "
               "heads=model.num_heads"),
    ("head=4", "no config field 'head'"),
    ("train.lrr=1", "no config field 'train.lrr'"),
    ("train.lr.x=1", "no config field 'train.lr.x'"),
    ("gone=3", "alias gone names task.dim, which this config does not have"),
    ("heads=4.0", "'4.0' is not an int (model.num_heads)"),
    ("heads=", "'' is not an int (model.num_heads)"),
    ("lr=fast", "'fast' is not a float (train.lr)"),
    ("train.skip_nonfinite=1", "'1' is not a bool: True, False, true or false (train.skip_nonfinite)"),
    ("train.grid=3", "train.grid holds a list"),
    ("one,heads", "config variant 'heads' is unknown"),
])
def test_errors_are_one_line_naming_the_item(arg, needle):
  with pytest.raises(cv.VariantError) as e:
    cv.apply(_config(), arg, _named([]), ALIASES)
  message = str(e.value)
  assert needle in message and "\n" not in message
  assert isinstance(e.value, ValueError)


def test_items_apply_in_order():
  log = []
  c = cv.apply(_config(), "long,eight,one", _named(log), ALIASES)
  assert log == ["long", "eight", "one"] and c.model.num_heads == 1
  assert cv.apply(_config(), "one,heads=4", _named([]), ALIASES).model.num_heads == 4
  assert cv.apply(_config(), "heads=4,one", _named([]), ALIASES).model.num_heads == 1
  assert cv.apply(_config(), "heads=4,heads=5", _named([]), ALIASES).model.num_heads == 5


def test_an_error_in_a_later_item_is_raised():
  with pytest.raises(cv.VariantError, match="'nope'"):
    cv.apply(_config(), "one,nope", _named([]), ALIASES)


# --- dataclass fields -------------------------------------------------------------

def test_dataclass_fields_config_has_every_field_and_default():
  from icl.models import transformer
  fields = cv.dataclass_fields_config(transformer.TransformerConfig)
  want = {f.name: f.default for f in dataclasses.fields(transformer.TransformerConfig)}
  assert list(fields.keys()) == sorted(want) and fields.to_dict() == want
  transformer.TransformerConfig(**fields)  # the defaults build a valid config


def test_dataclass_fields_config_refuses_placeholders():
  @dataclasses.dataclass
  class NoDefault:
    a: int

  @dataclasses.dataclass
  class Placeholder:
    a: int = 1
    b: str | None = None

  @dataclasses.dataclass
  class Factory:
    a: tuple = dataclasses.field(default_factory=lambda: (1, 2))
    b: int = dataclasses.field(default=0, init=False)

  with pytest.raises(TypeError, match="NoDefault.a has no default"):
    cv.dataclass_fields_config(NoDefault)
  with pytest.raises(TypeError, match="Placeholder.b defaults to None"):
    cv.dataclass_fields_config(Placeholder)
  with pytest.raises(TypeError, match="not a dataclass"):
    cv.dataclass_fields_config(dict)
  assert cv.dataclass_fields_config(Factory).to_dict() == {"a": (1, 2)}


# --- the config files -------------------------------------------------------------

FIXTURE_CASES = [(name, v) for name, variants in _fixture().items() for v in variants]


@pytest.mark.parametrize("name,variant", FIXTURE_CASES)
def test_named_variants_resolve_as_before(name, variant):
  want = _fixture()[name][variant]
  got = _module(name).get_config(variant or None).to_dict()
  assert _typed(got) == _typed(want)


def test_every_config_file_is_in_the_fixture_with_every_named_variant():
  fixture = _fixture()
  assert sorted(fixture) == CONFIG_FILES
  for name in CONFIG_FILES:
    assert set(fixture[name]) - {""} <= set(_module(name).VARIANTS), name


@pytest.mark.parametrize("name", CONFIG_FILES)
def test_docstring_lists_every_variant_and_alias(name):
  module = _module(name)
  doc = " ".join(module.__doc__.split())
  missing = [v for v in module.VARIANTS if v not in doc]
  missing += [f"{a} ({p})" for a, p in module.ALIASES.items() if f"{a} ({p})" not in doc]
  assert not missing, f"configs/{name.replace('.', '/')}.py docstring lacks {missing}"


@pytest.mark.parametrize("name", CONFIG_FILES)
def test_every_alias_names_a_field_of_some_variant(name):
  module = _module(name)
  configs = [module.get_config()] + [module.get_config(v) for v in module.VARIANTS]
  for alias, path in module.ALIASES.items():
    assert any(cv.locate(c, path) for c in configs), f"{name}: {alias} -> {path}"


def _validate(config):
  if "grid" in config:  # a sweep: every point is an experiment config
    from icl.sweep import grid
    for point in grid.expand(config):
      config_lib.validate(point.config, check_devices=False)
  else:
    config_lib.validate(config, check_devices=False)


COMPOSED = [
    ("regression", "linear,tiny", ["linear", "tiny"]),
    ("regression", "h8,tiny", ["h8", "tiny"]),
    ("regression", "superposition,tiny", ["superposition", "tiny"]),
    ("mqar", "linear_conv,tiny", ["linear_conv", "tiny"]),
    ("mqar", "one_layer,fast", ["one_layer", "fast"]),
    ("backcopy", "sigmoid,tiny", ["sigmoid", "tiny"]),
    ("backcopy", "three_layers,relu,tiny", ["three_layers", "relu", "tiny"]),
    ("parity", "sparse,linear", ["sparse", "linear"]),
    ("instability", "qk_norm,z_loss", ["qk_norm", "z_loss"]),
    ("sweeps.heads", "quick,linear", ["quick", "linear"]),
    ("sweeps.mqar_pairs", "no_conv,softmax", ["no_conv", "softmax"]),
    ("function_classes", "sparse_linear,curriculum,fast", ["sparse_linear", "curriculum", "fast"]),
    ("function_classes", "paper,decision_tree", ["paper", "decision_tree"]),
    ("task_diversity", "m4,small,quick", ["m4", "small", "quick"]),
]


@pytest.mark.parametrize("name,arg,steps", COMPOSED)
def test_composed_variants_are_the_variants_in_order(name, arg, steps):
  module = _module(name)
  want = module.get_config()
  for step in steps:
    module.VARIANTS[step](want)
  got = module.get_config(arg)
  assert _typed(got.to_dict()) == _typed(want.to_dict())
  _validate(got)


def test_composed_forms_from_the_brief():
  from configs import parity, regression
  c = regression.get_config("heads=4,attention=linear")
  assert (c.model.num_heads, c.model.attention) == (4, "linear")
  c = regression.get_config("linear,tiny")
  assert (c.model.attention, c.train.num_steps) == ("linear", 200)
  c = regression.get_config("h8,tiny")
  assert (c.model.num_heads, c.train.num_steps) == (8, 200)
  c = parity.get_config("sparse,heads=2")
  assert (c.task.name, c.model.name, c.model.num_heads) == ("sparse_parity", "transformer", 2)
  c = parity.get_config("sparse,heads=4")
  assert c.model.num_heads == 4 and "init_scale" not in c.model
  _validate(c)
  assert regression.get_config("heads=4,h1").model.num_heads == 1


@pytest.mark.parametrize("name", CONFIG_FILES)
def test_every_variant_validates(name):
  module = _module(name)
  for variant in module.VARIANTS:
    _validate(module.get_config(variant))


@pytest.mark.parametrize("name", CONFIG_FILES)
def test_unknown_items_name_the_file_choices(name):
  module = _module(name)
  with pytest.raises(ValueError, match="variant 'no-such-variant' is unknown") as e:
    module.get_config("no-such-variant")
  assert all(v in str(e.value) for v in module.VARIANTS)
  with pytest.raises(ValueError, match="no config field 'no_such_field'"):
    module.get_config("no_such_field=1")


def test_train_cli_prints_a_bad_variant_as_one_line(tmp_path):
  proc = run_cli("icl.train", "--config=configs/regression.py:linear,heads=two",
                 f"--workdir={tmp_path / 'wd'}", timeout=120)
  lines = proc.stderr.strip().splitlines()
  assert proc.returncode == 2 and len(lines) == 1, proc.stderr
  assert "'heads=two'" in lines[0]
  assert lines[0].endswith("'two' is not an int (model.num_heads)")
  assert not (tmp_path / "wd").exists()


def write_fixture(path: str = FIXTURE) -> None:
  """The resolved config of every config file and named variant, as JSON."""
  out = {}
  for name in CONFIG_FILES:
    module = _module(name)
    out[name] = {"": module.get_config().to_dict()}
    out[name].update({v: module.get_config(v).to_dict() for v in module.VARIANTS})
  with open(path, "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")


if __name__ == "__main__":
  if sys.argv[1:] != ["--write-fixture"]:
    sys.exit("usage: python -m tests.test_config_variants --write-fixture")
  write_fixture()
