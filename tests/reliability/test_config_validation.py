"""Bad configs fail before anything compiles: ConfigError, one line naming the field,
the value and what is allowed; on the command line, exit status 2."""

import os

import jax
import ml_collections
import pytest

from configs.regression import get_config
from icl import config_lib
from tests.conftest import run_cli


def tiny():
  return get_config("tiny")


@pytest.mark.parametrize("path,value,field", [
    ("model.num_heads", 0, "model.num_heads"),
    ("model.num_heads", -2, "model.num_heads"),
    ("task.dim", 0, "task.dim"),
    ("task.context_len", 0, "task.context_len"),
    ("task.noise_var", -0.1, "task.noise_var"),
    ("train.lr", 0.0, "train.lr"),
    ("train.lr", "1e-3", "train.lr"),  # wrong type from a config file
    ("train.num_steps", 2.5, "train.num_steps"),
    ("train.skip_nonfinite", 1, "train.skip_nonfinite"),
    ("task.name", "classification", "task.name"),
    ("model.name", "mlp", "model.name"),
    ("model.attention", "cosine", "model.attention"),
])
def test_out_of_range_or_unknown_values(path, value, field):
  section, key = path.split(".")
  d = tiny().to_dict()
  d[section][key] = value  # as a config file could: no ConfigDict type check
  c = ml_collections.ConfigDict(d)
  with pytest.raises(config_lib.ConfigError) as e:
    config_lib.validate(c)
  message = str(e.value)
  assert "\n" not in message and field in message and repr(value) in message
  assert "allowed" in message


def test_batch_must_divide_over_devices():
  c = tiny()
  c.train.batch_size = jax.device_count() * 8 + 1
  with pytest.raises(config_lib.ConfigError, match=r"train.batch_size=.*multiple of "
                     rf"the number of devices \({jax.device_count()}\)"):
    config_lib.validate(c)


def test_unknown_model_field_lists_the_allowed_ones():
  c = tiny()
  with c.model.unlocked():
    c.model.dropout = 0.1  # e.g. a config file written for another model
  with pytest.raises(config_lib.ConfigError,
                     match="model.dropout=0.1 .* fields of model 'one_layer': "
                     "attention, init_scale, linear_norm, num_heads"):
    config_lib.validate(c)


def test_probe_cadence_checked_only_when_the_field_exists():
  c = tiny()
  assert "probes" not in c or "every" in c.probes  # either branch's base config
  with c.unlocked():
    if "probes" not in c:
      c.probes = {"every": 0}
    c.probes.every = 0
    config_lib.validate(c)  # 0 = off
    c.probes.every = c.train.num_steps + 1
  # A cadence longer than the run is clamped to the run (log_every = 50 divides 200).
  assert config_lib.resolve(c).probes.every == 200
  c.probes.every = -1
  with pytest.raises(config_lib.ConfigError, match="probes.every=-1"):
    config_lib.validate(c)


@pytest.mark.parametrize("override,needle", [
    ("--config.train.lrr=0.1", "lrr"),  # typo in a nested key
    ("--config.train.num_steps=many", "num_steps"),  # wrong type
    ("--config.train.batch_size=250", "train.batch_size=250"),  # 8 devices in tests
])
def test_cli_one_line_exit_2(tmp_path, override, needle):
  proc = run_cli("icl.train", "--config=configs/regression.py:tiny",
                 f"--workdir={tmp_path / 'w'}", override, timeout=300,
                 env={"XLA_FLAGS": "--xla_force_host_platform_device_count=8"})
  assert proc.returncode == 2, proc.stderr
  lines = [l for l in proc.stderr.splitlines() if l.strip() and "WARNING" not in l]
  assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
  assert needle in lines[0]
  assert not os.path.exists(tmp_path / "w" / "checkpoints")


@pytest.mark.parametrize("steps,log_every,every,expected", [
    (50, 500, 1000, (50, 50)),  # log_every and probes.every clamped to the run
    (700, 500, 1000, (500, 500)),  # 700 is no multiple or divisor of 500: log_every
    (1000, 500, 1000, (500, 1000)),  # fits: unchanged
])
def test_cadences_longer_than_the_run_are_clamped(steps, log_every, every, expected):
  c = tiny()
  c.train.num_steps, c.train.log_every = steps, log_every
  c.train.eval_every = c.train.ckpt_every = 5000
  c.probes.every = every
  spec = config_lib.resolve(c)
  assert (spec.train.log_every, spec.probes.every) == expected
  assert c.train.log_every == log_every  # the source config (config.json) is kept
