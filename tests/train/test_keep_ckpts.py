"""train.keep_ckpts: only the last k checkpoints stay in <workdir>/checkpoints/, also
across a resume that changes k (a resumable field)."""

import os

from configs.regression import get_config
from icl.train import train_and_evaluate


def config(num_steps: int, keep: int):
  c = get_config("tiny")
  c.train.update(dict(num_steps=num_steps, log_every=10, ckpt_every=10, eval_every=10,
                      batch_size=32, keep_ckpts=keep))
  c.eval.num_prompts = 64
  c.eval.batch_size = 64
  c.probes.every = 0
  c.probes.snapshots = 0
  return c


def steps_on_disk(workdir: str) -> list[int]:
  entries = os.listdir(os.path.join(workdir, "checkpoints"))
  assert all(e.isdigit() for e in entries), entries  # no temporary or stray entries
  return sorted(int(e) for e in entries)


def test_only_the_last_k_checkpoints_remain(tmp_path):
  wd = str(tmp_path / "run")
  train_and_evaluate(config(50, keep=2), wd)  # saves at 10, 20, 30, 40, 50
  assert steps_on_disk(wd) == [40, 50]
  train_and_evaluate(config(80, keep=3), wd)  # resumes at 50; saves 60, 70, 80
  assert steps_on_disk(wd) == [60, 70, 80]
  with open(os.path.join(wd, "DONE")) as f:
    assert f.read() == "80"
