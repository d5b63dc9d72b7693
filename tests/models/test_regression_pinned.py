"""The regression paper's model and training, pinned to recorded numbers, so work on
the token tasks and the transformer family cannot change them (issue 6, acceptance 3).

Everything here is the default `configs/regression.py` (H = 2 softmax heads, d = 5,
L = 40, σ² = 0.1, batch 256) at seed 0, trained for 300 steps at lr 1e-2 in one
fused chunk. A change to the model, the task's sampler, the initialisation, the
optimizer or the key schedule moves these numbers far beyond the tolerances, which
only absorb float32 reassociation across XLA versions and CPU kinds.
"""

import jax
import numpy as np

from configs.regression import get_config
from icl.train import core

# Recorded 2026-11-24 (jax 0.10.2, CPU).
BATCH_YQ = [0.008628100156784058, 0.3778485953807831, -1.4521902799606323,
            0.5759426951408386]
INIT_PRED = [0.014314983040094376, -0.10921832919120789, 0.09664174169301987,
             0.01174178346991539]
TRAIN_LOSS = {1: 0.9866005, 100: 0.28845406, 300: 0.24503286}
TRAINED_PRED = [-0.8365175127983093, -0.2661328613758087, -0.9422346353530884,
                0.12211088836193085]
EVAL_LOSS = 0.2549954652786255  # 4096 prompts from key(11)


def test_regression_model_outputs_and_training_are_unchanged():
  c = get_config()
  c.train.num_steps = 300
  c.train.lr = 1e-2
  exp = core.Experiment.from_config(c)
  init_keys, data_keys = core.seed_keys(c)
  states = core.init_states(exp, init_keys)
  batch = exp.task.sample(jax.random.key(7), 4)
  np.testing.assert_allclose(np.ravel(batch["yq"]), BATCH_YQ, rtol=1e-6, atol=1e-7)
  first = lambda tree: jax.tree.map(lambda a: a[0], tree)
  np.testing.assert_allclose(np.ravel(exp.apply(first(states["params"]), batch)),
                             INIT_PRED, rtol=1e-5, atol=1e-6)

  states, metrics = core.train_chunk(exp, states, data_keys, 300)
  loss = np.asarray(metrics["train_loss"][0])
  np.testing.assert_allclose([loss[s - 1] for s in TRAIN_LOSS], list(TRAIN_LOSS.values()),
                             rtol=1e-3)
  np.testing.assert_allclose(np.ravel(exp.apply(first(states["params"]), batch)),
                             TRAINED_PRED, rtol=1e-3, atol=1e-4)
  result = core.evaluate(exp, states["params"], jax.random.key(11), 4096, 4096)
  np.testing.assert_allclose(float(result["loss"][0]), EVAL_LOSS, rtol=1e-3)
