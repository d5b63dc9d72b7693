"""Per-model XLA:CPU options (icl/train/xla_options.py): a model entry that asks for
`individual_dot` gets training and evaluation programs that hand YNNPACK each dot
alone, one that does not keeps XLA's default (every shipped model does); a user's
XLA_FLAGS value and ICL_XLA_CPU_OPTIONS=0 win."""

import dataclasses

import jax
import pytest

from configs import mqar, regression
from icl import models
from icl.train import core, xla_options

pytestmark = pytest.mark.skipif(jax.default_backend() != "cpu", reason="XLA:CPU options")

DOTS_ALONE = {xla_options.YNN_FUSION: "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"}


def ynn_subgraphs(lowered) -> int:
  return lowered.compile().as_text().count('"kind":"__ynn_fusion"')


def test_options_by_model_and_switches(monkeypatch):
  monkeypatch.delenv("ICL_XLA_CPU_OPTIONS", raising=False)
  monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
  assert xla_options.compiler_options("individual_dot") == DOTS_ALONE
  assert xla_options.compiler_options(None) == {}
  monkeypatch.setenv("ICL_XLA_CPU_OPTIONS", "0")
  assert xla_options.compiler_options("individual_dot") == {}
  monkeypatch.delenv("ICL_XLA_CPU_OPTIONS")
  monkeypatch.setenv("XLA_FLAGS", f"--{xla_options.YNN_FUSION}=dot")  # the user's wins
  assert xla_options.compiler_options("individual_dot") == {}


def test_every_shipped_model_keeps_xlas_default():
  assert {name: e.cpu_fusion for name, e in models.MODELS.items() if e.cpu_fusion} == {}


@pytest.mark.parametrize("config, dots_alone", [(mqar.get_config("tiny"), True),
                                                (regression.get_config("tiny"), False)])
def test_training_and_evaluation_programs_get_the_models_options(config, dots_alone,
                                                                  monkeypatch):
  if dots_alone:  # a model entry that asks for the dots alone (the transformer here)
    entry = models.MODELS["transformer"]
    monkeypatch.setitem(models.MODELS, "transformer",
                        dataclasses.replace(entry, cpu_fusion="individual_dot"))
  exp = core.Experiment.from_config(config)
  assert (exp.spec.model_entry.cpu_fusion == "individual_dot") == dots_alone
  init_keys, data_keys = core.seed_keys(exp.spec)
  states = core.init_states(exp, init_keys)
  chunk = [core.train_chunk.lower(exp, states, data_keys, 3),
           core.train_chunk.jit(exp, compiler_options={}).lower(states, data_keys, 3)]
  params, key = states["params"], jax.random.key(0)
  evaluation = [core.evaluate.lower(exp, params, key, 64, 64),
                core.evaluate.jit(exp, compiler_options={}).lower(params, key, 64, 64)]
  for picked, default in (chunk, evaluation):
    if dots_alone:  # the dots alone: fewer (smaller) YNNPACK subgraphs than XLA's list
      assert 0 < ynn_subgraphs(picked) < ynn_subgraphs(default)
    else:
      assert ynn_subgraphs(picked) == ynn_subgraphs(default)
  # The call runs the same executable the lowering picked (and trains).
  states, metrics = core.train_chunk(exp, states, data_keys, 3)
  assert metrics["lr"].shape == (1, 3)
