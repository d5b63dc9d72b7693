"""config.sweep: shape-keeping hyperparameters vmapped in one program."""

import json
import os

import numpy as np
import pytest

from configs.regression import get_config
from icl import config_lib, evaluate, workdir as workdir_lib
from icl.train import core, train_and_evaluate
from tests.conftest import run_cli


def small(num_seeds=1, **sweep):
  c = get_config("tiny")
  c.train.batch_size = 32
  c.train.lr = 1e-2
  c.train.num_seeds = num_seeds
  c.eval.num_prompts = 256
  c.eval.batch_size = 256
  for k, v in sweep.items():  # field=..., values=... -> sweep.field, sweep.value_list
    k = "value_list" if k == "values" else k
    c.sweep[k] = v
  return c


def run(c, steps=10):
  exp = core.Experiment.from_config(c)
  ik, dk = core.seed_keys(c)
  return core.train_chunk(exp, core.init_states(exp, ik), dk, steps)


@pytest.mark.parametrize("field,values", [
    ("task.noise_var", "0.1,0.5"),
    ("train.lr", "1e-3,1e-2"),
    ("model.init_scale", "0.5,2.0"),
])
def test_each_point_is_the_separate_run(field, values):
  """Model p * S + i of the sweep = the plain run with field = values[p], seed i."""
  c = small(num_seeds=2, field=field, values=values)
  config_lib.validate(c)
  states, metrics = run(c)
  assert metrics["train_loss"].shape == (4, 10)
  section, name = field.split(".")
  np.testing.assert_array_equal(states["hparams"][name],
                                np.repeat(np.float32([float(v) for v in values.split(",")]), 2))
  for p, value in enumerate(values.split(",")):
    single = small()
    single.seed = 1
    single[section][name] = float(value)
    one, m1 = run(single)
    np.testing.assert_allclose(metrics["train_loss"][2 * p + 1], m1["train_loss"][0],
                               rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(states["params"]["query"][2 * p + 1],
                               one["params"]["query"][0], rtol=1e-5, atol=1e-7)


def test_transformer_sweep_point_is_the_separate_run():
  """The bound config of a sweep point reads like a ConfigDict and like a mapping
  (the transformer is built from dict(config.model)): an lr sweep of the tiny
  bigram-backcopy run equals the two separate runs."""
  from configs import backcopy
  def tiny(**sweep):
    c = backcopy.get_config("tiny")
    c.train.batch_size = 8
    for k, v in sweep.items():
      c.sweep[k] = v
    return c
  c = tiny(field="train.lr", value_list="1e-3,1e-2")
  config_lib.validate(c)
  _, metrics = run(c, steps=3)
  for p, lr in enumerate((1e-3, 1e-2)):
    single = tiny()
    single.train.lr = lr
    _, m1 = run(single, steps=3)
    np.testing.assert_allclose(metrics["train_loss"][p], m1["train_loss"][0], rtol=1e-5)


@pytest.mark.parametrize("field,values,message", [
    ("model.num_heads", "1,2", "cannot be vmapped"),
    ("task.rho", "0.1,0.2", "cannot be vmapped"),
    ("train.lr", "1e-3,x", "sweep.value_list"),
    ("train.lr", "1e-3,1e-3", "sweep.value_list"),
    ("train.lr", "1e-3,-1", "train.lr"),
    ("", "1,2", "sweep.field"),
])
def test_bad_sweeps_are_one_line_errors(field, values, message):
  with pytest.raises(config_lib.ConfigError, match=message) as e:
    config_lib.validate(small(field=field, values=values))
  assert "\n" not in str(e.value)


def test_bad_sweep_on_the_command_line(tmp_path):
  proc = run_cli("icl.train", "--config=configs/regression.py:tiny",
                 f"--workdir={tmp_path / 'w'}", "--config.sweep.field=model.num_heads",
                 "--config.sweep.value_list=1,2", timeout=300)
  assert proc.returncode == 2
  lines = [l for l in proc.stderr.splitlines() if l.strip() and "WARNING" not in l]
  assert len(lines) == 1 and "config.sweep.field='model.num_heads'" in lines[0], proc.stderr


def test_sweep_run_writes_per_point_metrics_and_eval(tmp_path):
  wd = str(tmp_path / "run")
  c = small(num_seeds=2, field="task.noise_var", values="0.1,1.0")
  c.train.num_steps, c.train.log_every, c.train.eval_every, c.train.ckpt_every = 20, 10, 20, 20
  c.probes.every = 10
  train_and_evaluate(c, wd)
  last = workdir_lib.read_metrics(wd)[-1]
  for label in ("noise_var=0.1", "noise_var=1.0"):
    for key in ("train_loss", "eval_loss"):
      assert len(last[f"{key}/{label}/seeds"]) == 2
      assert last[f"{key}/{label}"] == pytest.approx(np.mean(last[f"{key}/{label}/seeds"]))
      assert f"{key}/{label}/se" in last
  # Noisier labels: a larger risk (the gap 0.9 is far above the seed spread).
  assert last["eval_loss/noise_var=1.0"] > last["eval_loss/noise_var=0.1"] + 0.5
  # Probes per point too: the all-model mean is the mean of the two points' means.
  probe = "probe/mu/h0"
  per_point = [last[f"{probe}/{label}"] for label in ("noise_var=0.1", "noise_var=1.0")]
  assert len(last[f"{probe}/noise_var=0.1/seeds"]) == 2
  assert last[probe] == pytest.approx(np.mean(per_point))
  assert f"{probe}/se" not in last  # a spread over different points would mislead
  result = evaluate.evaluate_workdir(wd, [10, 40], num_prompts=256)
  with open(os.path.join(wd, "eval.json")) as f:
    assert json.load(f) == json.loads(json.dumps(result))
  assert result["sweep"] == {"field": "task.noise_var", "values": [0.1, 1.0]}
  assert set(result["points"]) == {"noise_var=0.1", "noise_var=1.0"}
  point = result["points"]["noise_var=1.0"]
  assert len(point["context_len_seeds"]["40"]) == 2
  assert len(result["context_len_seeds"]["40"]) == 4
  assert point["context_len"]["40"] == pytest.approx(np.mean(point["context_len_seeds"]["40"]))
