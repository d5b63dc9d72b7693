"""Evaluation memory is bounded by eval.batch_size, not eval.num_prompts: the
compiled evaluation's temporary buffers are the same for 2e4, 2e5 and 1e6 prompts
(docs/reliability.md states the bound)."""

import jax

from configs.regression import get_config
from icl.train import core


def test_eval_temp_memory_does_not_grow_with_num_prompts():
  c = get_config("tiny")  # d = 5, L = 40
  exp = core.Experiment.from_config(c)
  params = core.init_states(exp, core.seed_keys(c)[0])["params"]
  key = jax.random.key(0)
  batch = 4096

  def temp_bytes(num_prompts):
    compiled = core.evaluate.lower(exp, params, key, num_prompts, batch, None).compile()
    return compiled.memory_analysis().temp_size_in_bytes

  small, large, huge = temp_bytes(20_000), temp_bytes(200_000), temp_bytes(1_000_000)
  one_batch = batch * (c.task.context_len + 1) * (c.task.dim + 1) * 4  # 4 MB
  assert small > one_batch  # the analysis sees the per-chunk batch
  assert small < 16 * one_batch  # peak ≈ a small multiple of one batch
  # Only per-chunk keys and scalars grow: < 64 bytes per chunk of 4096 prompts.
  assert huge - small < 64 * (1_000_000 // batch)
  assert large - small < 64 * (200_000 // batch)
  # Unchunked, 1e6 prompts would need 1e6 * 41 * 6 * 4 bytes ≈ 1 GB for one tensor.
  assert huge < 1_000_000 * 41 * 6 * 4 / 10
