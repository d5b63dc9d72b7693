"""Adding a task and a model from one file each, with one registration line each
(CONTRIBUTING.md, "Adding a task" and "Adding a model"): everything below lives in
this test file, and the stock trainer, validation and work directory take them.

The toy task is in-context mean estimation: per prompt mu ~ N(0, 1), context
x_1..x_L ~ N(mu, 1), target mu. Its Bayes predictor is L / (L + 1) * mean(x), with
risk 1 / (L + 1). The toy model predicts w * mean(x) + b, so training must find
w = L / (L + 1) and b = 0.
"""

import dataclasses

import jax
import jax.numpy as jnp
import pytest
from flax import nnx

from icl import config_lib, models, tasks
from icl.models.base import ModelEntry
from icl.tasks.base import Task
from icl.train import core, train_and_evaluate


@dataclasses.dataclass(frozen=True)
class MeanTask(Task):
  """In-context mean estimation (module docstring)."""

  context_len: int = 4  # L

  def sample(self, key, batch_size, *, step=None):
    del step
    k_mu, k_x = jax.random.split(key)
    mu = jax.random.normal(k_mu, (batch_size,))
    x = mu[:, None] + jax.random.normal(k_x, (batch_size, self.context_len))
    return {"x": x, "yq": mu}

  def loss(self, pred, batch):
    return jnp.mean(jnp.square(pred - batch["yq"]))

  def per_prompt_error(self, pred, batch):
    return jnp.square(pred - batch["yq"])

  def trivial_loss(self):
    return 1.0


@dataclasses.dataclass(frozen=True)
class ScaledMeanConfig:
  init_w: float = 0.0  # initial slope


class ScaledMean(nnx.Module):
  def __init__(self, cfg: ScaledMeanConfig, rngs: nnx.Rngs):
    del rngs
    self.w = nnx.Param(jnp.asarray(cfg.init_w))
    self.b = nnx.Param(jnp.asarray(0.0))

  def __call__(self, batch):
    return self.w[...] * batch["x"].mean(-1) + self.b[...]


ENTRY = ModelEntry(config=ScaledMeanConfig,
                   build=lambda cfg, task, rngs: ScaledMean(cfg, rngs))


@pytest.fixture
def registered():
  tasks.register("toy_mean", MeanTask)
  models.register("toy_scaled_mean", ENTRY)
  yield
  del tasks.TASKS["toy_mean"], models.MODELS["toy_scaled_mean"]


def toy_config(**train):
  c = config_lib.base_config()
  c.task.name = "toy_mean"
  c.task.context_len = 4
  c.model.name = "toy_scaled_mean"
  c.model.init_w = 0.0
  c.train.update(num_steps=400, log_every=100, eval_every=400, ckpt_every=400,
                 batch_size=256, lr=0.05, **train)
  c.eval.num_prompts = 8192
  c.probes.every = 0
  return c


def test_a_toy_task_and_model_train_to_their_bayes_predictor(registered, tmp_path):
  c = toy_config()
  spec = config_lib.resolve(c)
  assert isinstance(spec.task, MeanTask) and isinstance(spec.model, ScaledMeanConfig)
  result = train_and_evaluate(c, str(tmp_path / "toy"))
  # Bayes risk 1/(L+1) = 0.2; 8192 prompts give a Monte-Carlo se of ~0.2*sqrt(2/8192)
  # = 0.003, and w within 0.03 of 0.8 costs < Var(mean x) * 0.03^2 = 1e-3.
  assert abs(result["loss"] - 0.2) < 0.015
  exp = core.Experiment.from_config(c)
  from icl import evaluate
  _, _, states, _ = evaluate.load_run(str(tmp_path / "toy"))
  w, b = float(states["params"]["w"][0]), float(states["params"]["b"][0])
  assert abs(w - 0.8) < 0.03 and abs(b) < 0.03
  assert exp.task.trivial_loss() == 1.0


def test_validation_knows_the_toy_fields(registered):
  c = toy_config()
  c.task.context_len = 0  # the shared rule on task.context_len applies to it too
  with pytest.raises(config_lib.ConfigError, match="task.context_len=0"):
    config_lib.validate(c)
  c = toy_config()
  with c.unlocked():
    c.model.width = 3
  with pytest.raises(config_lib.ConfigError, match="fields of model 'toy_scaled_mean'"):
    config_lib.validate(c)
