"""A small, fast variant of the tiny config shared by the reliability tests."""

import jax
import numpy as np

from configs.regression import get_config
from icl import evaluate, workdir as workdir_lib


def small(**train):
  """tiny with batch 64 and 512 eval prompts: 10-step chunks, checkpoints every 30."""
  c = get_config("tiny")
  c.train.update(dict(num_steps=60, log_every=10, eval_every=30, ckpt_every=30,
                      batch_size=64))
  c.eval.num_prompts = 512
  c.eval.batch_size = 256
  c.train.update(train)
  return c


def history(workdir):
  """metrics.jsonl without wall_time."""
  return [{k: v for k, v in r.items() if k != "wall_time"}
          for r in workdir_lib.read_metrics(workdir)]


def final_state(workdir, step=None):
  _, _, states, step = evaluate.load_run(workdir, step)
  return step, jax.tree.map(np.asarray, states)


def assert_same_state(a, b):
  assert jax.tree.structure(a) == jax.tree.structure(b)
  jax.tree.map(np.testing.assert_array_equal, a, b)
