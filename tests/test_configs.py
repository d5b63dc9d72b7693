"""Every experiment config and variant builds and passes validation (before compile)."""

import importlib

import pytest

from icl import config_lib

VARIANTS = {
    "regression": [None, "h1", "h2", "h4", "h8", "linear", "toeplitz", "superposition",
                   "tiny"],
    "mqar": [None, "linear", "linear_elu", "linear_conv", "one_layer", "long", "fast", "tiny"],
    "parity": [None, "incontext_linear", "dictator", "sparse", "running_single",
               "running_multi", "running_fixed"],
    "backcopy": [None, "sigmoid", "relu", "three_layers", "tiny"],
    "instability": [None, "qk_norm", "sigma_reparam", "z_loss", "softcap"],
}
CASES = [(name, v) for name, variants in VARIANTS.items() for v in variants]


@pytest.mark.parametrize("name,variant", CASES)
def test_config_validates(name, variant):
  config = importlib.import_module(f"configs.{name}").get_config(variant)
  config_lib.validate(config)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_unknown_variant_is_a_clear_error(name):
  with pytest.raises(ValueError, match="variant"):
    importlib.import_module(f"configs.{name}").get_config("no-such-variant")


@pytest.mark.parametrize("path,value,field", [
    ("model.num_heads", 0, "model.num_heads"),
    ("task.noise_var", -1.0, "task.noise_var"),
    ("train.lr", 0.0, "train.lr"),
    ("task.covariance", "banded", "task.covariance"),
])
def test_bad_values_name_the_field(path, value, field):
  config = importlib.import_module("configs.regression").get_config()
  section, key = path.split(".")
  config[section][key] = value
  with pytest.raises(config_lib.ConfigError, match=field.replace(".", r"\.")):
    config_lib.validate(config)


def test_transformer_fields_are_checked():
  config = importlib.import_module("configs.mqar").get_config()
  config.model.attention = "cosine"
  with pytest.raises(config_lib.ConfigError, match="model.attention"):
    config_lib.validate(config)


@pytest.mark.parametrize("variant", [None, "softmax", "no_conv"])
def test_mqar_pairs_sweep_points_validate(variant):
  from configs.sweeps import mqar_pairs
  from icl.sweep import grid
  points = grid.expand(mqar_pairs.get_config(variant))
  assert all(4 * p.config.task.num_pairs <= p.config.task.seq_len for p in points)
