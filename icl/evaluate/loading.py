"""A run's checkpoint back in memory: its spec, experiment and states."""

from __future__ import annotations

import jax

from icl import config_lib
from icl import workdir as workdir_lib
from icl.train import checkpoint as checkpoint_lib
from icl.train import core


def load_run(workdir: str, step: int | None = None):
  """(spec, Experiment, states, step) of the checkpoint at `step` (default latest)."""
  config = workdir_lib.read_config(workdir)
  try:
    spec = config_lib.resolve(config, check_devices=False)  # trained maybe elsewhere
  except (AttributeError, KeyError) as e:  # a foreign or truncated config.json
    raise workdir_lib.WorkdirError(
        f"{workdir}/{workdir_lib.CONFIG} lacks a field ({e}): not an icl run") from None
  ckpt = checkpoint_lib.Checkpointer(workdir, keep=spec.train.keep_ckpts, read_only=True)
  if ckpt.latest_step() is None:
    raise workdir_lib.WorkdirError(f"work dir {workdir!r} has no checkpoint yet")
  exp = core.Experiment.from_config(spec)
  template = jax.eval_shape(lambda k: core.init_states(exp, k), core.seed_keys(spec)[0])
  step, states = ckpt.restore(template, step)
  ckpt.close()
  return spec, exp, states, step
