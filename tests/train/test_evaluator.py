"""The trainer's evaluation (icl/train/trainer.py, `Evaluator`): prompts drawn once
and kept on device where they depend on neither the step nor the model, drawn
again at each evaluation otherwise; the same numbers either way."""

import jax
import numpy as np
import pytest

from configs import mqar, parity, regression
from icl import config_lib, workdir as workdir_lib
from icl.train import core, sharding, train_and_evaluate, trainer
from tests.conftest import count_calls


def _setup(config):
  spec = config_lib.resolve(config, check_devices=False)
  exp = core.Experiment.from_config(spec)
  init_keys, _ = sharding.put_models(core.seed_keys(spec), spec)
  return exp, core.init_states(exp, init_keys)


def _trained_a_little(exp, states):
  """A state off its initialisation (so that the metrics are not the init's)."""
  _, data_keys = sharding.put_models(core.seed_keys(exp.spec), exp.spec)
  return core.train_chunk(exp, states, data_keys, 20)[0]


@pytest.mark.parametrize("config", [
    regression.get_config("tiny"),
    regression.get_config("tiny,seeds=3"),
    mqar.get_config("tiny"),
    parity.get_config("running_multi"),
], ids=["regression", "regression_3_seeds", "mqar", "running_parity_multi"])
def test_kept_prompts_give_the_numbers_of_a_fresh_draw(config):
  """Every metric of every model equals the evaluation that draws its prompts
  (float rounding of a differently fused program apart)."""
  config.eval.num_prompts = min(config.eval.num_prompts, 1024)
  config.eval.batch_size = min(config.eval.batch_size, 256)
  exp, states = _setup(config)
  evaluator = trainer.Evaluator(exp, states)
  assert evaluator.keeps_prompts
  states = _trained_a_little(exp, states)
  kept, fresh = evaluator(states), trainer.evaluate_states(exp, states)
  assert kept.keys() == fresh.keys() and len(kept) >= 2  # loss + stderr or accuracy
  for name in fresh:
    np.testing.assert_allclose(kept[name], fresh[name], rtol=2e-6, atol=1e-7,
                               err_msg=name)


def test_prompts_that_follow_the_step_or_the_model_are_drawn_each_time():
  """Running parity's 'single' curriculum sets N from the step, at evaluation too;
  an in-program sweep's points may set the task: neither keeps its prompts."""
  exp, states = _setup(parity.get_config("running_single"))
  assert not trainer.Evaluator(exp, states).keeps_prompts
  c = regression.get_config("tiny")
  c.sweep.field, c.sweep.value_list = "task.noise_var", "0.1,0.5"
  exp, states = _setup(c)
  assert states.get("hparams") is not None
  assert not trainer.Evaluator(exp, states).keeps_prompts


def test_a_run_draws_its_evaluation_prompts_once(tmp_path, monkeypatch):
  """The default regression run: one trace of the draw, one of the forward on it,
  none of the evaluation that draws; each of the 3 evaluations matches a fresh
  draw on its checkpoint's state."""
  calls = {name: count_calls(monkeypatch, core.Experiment, name)
           for name in ("eval_prompts", "eval_on", "eval_loss")}
  c = regression.get_config("tiny")
  c.train.update(dict(num_steps=150, log_every=50, eval_every=50, ckpt_every=50,
                      keep_ckpts=3))
  wd = str(tmp_path / "run")
  train_and_evaluate(c, wd)
  assert {name: len(c) for name, c in calls.items()} == {
      "eval_prompts": 1, "eval_on": 1, "eval_loss": 0}
  monkeypatch.undo()
  logged = {r["step"]: r["eval_loss"] for r in workdir_lib.read_metrics(wd)
            if "eval_loss" in r}
  assert sorted(logged) == [50, 100, 150]
  from icl.train import checkpoint
  spec = config_lib.resolve(c, check_devices=False)
  exp = core.Experiment.from_config(spec)
  template = core.init_states(exp, core.seed_keys(spec)[0])
  ckpt = checkpoint.Checkpointer(wd, read_only=True)
  for step in logged:
    state = ckpt.restore(template, step)[1]
    fresh = trainer.evaluate_states(exp, jax.tree.map(np.asarray, state))["loss"]
    assert float(np.mean(fresh)) == pytest.approx(logged[step], rel=2e-6)


def test_prompts_over_the_size_limit_are_drawn_each_time(monkeypatch):
  """The tiny run's prompts (2,048 of d = 5, L = 40: x 40 x 5, y 40, the query's x 5
  and y 1, the task vector 5: 251 float32, 2.06 MB) are kept at the limit and drawn
  each time one byte below it."""
  exp, states = _setup(regression.get_config("tiny"))
  size = 2048 * (40 * 5 + 40 + 5 + 1 + 5) * 4
  monkeypatch.setattr(trainer, "KEPT_PROMPTS_MAX_BYTES", size)
  assert trainer.Evaluator(exp, states).keeps_prompts
  monkeypatch.setattr(trainer, "KEPT_PROMPTS_MAX_BYTES", size - 1)
  assert not trainer.Evaluator(exp, states).keeps_prompts
