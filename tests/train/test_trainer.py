"""Training end to end on the tiny config: learning, resume, work-dir contract, CLI."""

import json
import os

import jax
import numpy as np
import pytest

from configs.regression import get_config
from icl import config_lib, evaluate, workdir as workdir_lib
from icl.train import checkpoint, core, train_and_evaluate
from tests.conftest import count_calls, run_cli


def tiny(**train):
  c = get_config("tiny")
  for k, v in train.items():
    c.train[k] = v
  return c


def final_params(workdir):
  _, _, states, step = evaluate.load_run(workdir)
  return step, jax.tree.map(np.asarray, states)


def test_short_run_learns_and_writes_the_workdir(tmp_path):
  """lr 1e-2 escapes the initial plateau within 300 steps: the eval loss (2048
  prompts, se ~0.01) falls from Var(y) = 1.1 to near the optimum 0.24."""
  wd = str(tmp_path / "run")
  result = train_and_evaluate(tiny(lr=1e-2, num_steps=300, eval_every=300,
                                   ckpt_every=300), wd)
  assert result["loss"] < 0.35
  records = [r for r in workdir_lib.read_metrics(wd) if "train_loss" in r]
  assert [r["step"] for r in records] == [50, 100, 150, 200, 250, 300]
  probed = [r["step"] for r in workdir_lib.read_metrics(wd) if "probe/eta" in r]
  assert probed == list(range(10, 301, 10))  # probes every 10 steps, in the scan
  assert records[0]["train_loss"] > records[-1]["train_loss"] + 0.3
  assert records[-1]["eval_loss"] == pytest.approx(result["loss"])
  assert workdir_lib.read_config(wd).model.num_heads == 2
  assert os.path.exists(os.path.join(wd, "DONE"))
  assert checkpoint.Checkpointer(wd).latest_step() == 300


def test_resume_gives_the_uninterrupted_result(tmp_path):
  straight, split = str(tmp_path / "straight"), str(tmp_path / "split")
  train_and_evaluate(tiny(num_steps=200), straight)
  train_and_evaluate(tiny(num_steps=100), split)
  train_and_evaluate(tiny(num_steps=200), split)  # resumes from step 100
  step_a, a = final_params(straight)
  step_b, b = final_params(split)
  assert step_a == step_b == 200
  jax.tree.map(np.testing.assert_array_equal, a, b)
  ra, rb = workdir_lib.read_metrics(straight), workdir_lib.read_metrics(split)
  assert [r["step"] for r in rb if "train_loss" in r] == [50, 100, 150, 200]
  assert [r["step"] for r in rb] == [r["step"] for r in ra]  # no duplicated lines
  assert [r.get("train_loss") for r in ra] == [r.get("train_loss") for r in rb]


def test_resume_refuses_a_different_config(tmp_path):
  wd = str(tmp_path / "run")
  train_and_evaluate(tiny(num_steps=50, log_every=50), wd)
  other = tiny(num_steps=50)
  other.model.num_heads = 4
  with pytest.raises(config_lib.ConfigError, match="model.num_heads"):
    train_and_evaluate(other, wd)


def test_seeds_are_the_single_seed_runs():
  """Seed i of an S-seed program equals the single-seed run with seed + i."""
  c3 = tiny(num_seeds=3)
  exp = core.Experiment.from_config(c3)
  ik, dk = core.seed_keys(c3)
  states, m3 = core.train_chunk(exp, core.init_states(exp, ik), dk, 20)
  c1 = tiny()
  c1.seed = 2
  exp1 = core.Experiment.from_config(c1)
  ik1, dk1 = core.seed_keys(c1)
  one, m1 = core.train_chunk(exp1, core.init_states(exp1, ik1), dk1, 20)
  np.testing.assert_allclose(m3["train_loss"][2], m1["train_loss"][0], rtol=1e-5)
  np.testing.assert_allclose(states["params"]["query"][2], one["params"]["query"][0],
                             rtol=1e-5, atol=1e-7)


def test_evaluate_writes_eval_json(tmp_path):
  wd = str(tmp_path / "run")
  train_and_evaluate(tiny(num_steps=50, log_every=50), wd)
  result = evaluate.evaluate_workdir(wd, [10, 40], num_prompts=1024)
  with open(os.path.join(wd, "eval.json")) as f:
    stored = json.load(f)
  assert stored["context_len"].keys() == {"10", "40"}
  assert stored["num_prompts"] == 1024 and stored["step"] == 50
  assert set(stored["theory"]) == {"ridge", "gd_opt", "debiased_gd", "kernel", "reduced"}
  assert stored["theory"]["gd_opt"]["40"] < stored["theory"]["gd_opt"]["10"]
  assert len(stored["reduced"]["omega"][0]) == 2  # seed 0, two heads
  # Untrained: close to predicting 0, whose risk is Var(y) = 1.1 at any length.
  for length in ("10", "40"):
    assert abs(result["context_len"][length] - 1.1) < 5 * result["context_len_se"][length] + 0.1


@pytest.mark.parametrize("override,field", [
    ("--config.model.num_heads=0", "model.num_heads"),
    ("--config.model.attention=cosine", "model.attention"),
    ("--config.task.context_len=0", "task.context_len"),
    ("--config.model.num_head=2", "num_head"),
    ("--config.train.lr=-1", "train.lr"),
])
def test_bad_config_exits_with_one_line(tmp_path, override, field):
  proc = run_cli("icl.train", "--config=configs/regression.py",
                 f"--workdir={tmp_path / 'w'}", override, timeout=120)
  assert proc.returncode == 2
  lines = [l for l in proc.stderr.splitlines() if l.strip() and "WARNING" not in l]
  assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
  assert field in lines[0]
  assert not os.path.exists(tmp_path / "w" / "checkpoints")  # failed before any work


def test_evaluate_cli_on_a_missing_workdir(tmp_path):
  proc = run_cli("icl.evaluate", f"--workdir={tmp_path / 'nothing'}", timeout=120)
  assert proc.returncode == 2
  assert proc.stderr.strip().startswith("error:") and "does not exist" in proc.stderr


def test_a_model_field_newer_than_the_workdir_reads_as_its_default(tmp_path):
  """A run written before `model.short_conv` existed resumes when the field is at its
  default (0), and is refused when it is not."""
  from configs import mqar
  from icl.train import trainer
  wd = str(tmp_path)
  config = mqar.get_config("tiny")
  workdir_lib.write_config(wd, config)
  path = os.path.join(wd, workdir_lib.CONFIG)
  with open(path) as f:
    stored = json.load(f)
  del stored["model"]["short_conv"]
  with open(path, "w") as f:
    json.dump(stored, f)
  trainer.check_resumable(wd, config)  # no error
  config.model.short_conv = 2
  with pytest.raises(config_lib.ConfigError, match="model.short_conv: 0 -> 2"):
    trainer.check_resumable(wd, config)


def _lines(workdir):
  return [{k: v for k, v in r.items() if k != "wall_time"}
          for r in workdir_lib.read_metrics(workdir)]


def test_evaluations_and_saves_overlapping_the_next_chunk_change_nothing(
    tmp_path, monkeypatch):
  """At a step with an evaluation and a checkpoint, the next chunk is dispatched
  before the end is read: the evaluation goes first (it reads the state the next
  chunk donates) and the checkpoint saves a device copy. Every metrics line and
  saved state equals the run that waits for each end (no copy), and the evaluation
  of the saved state reproduces the logged eval loss: the overlapped reads saw the
  state of their own step, not the next chunk's."""
  from icl.train import memory, trainer
  copies = count_calls(monkeypatch, trainer, "_copy_states")
  c = tiny(num_steps=200, eval_every=50, ckpt_every=50, keep_ckpts=4)
  runs = {}
  for overlap in (True, False):
    monkeypatch.setattr(memory, "room_for_copy", lambda tree, overlap=overlap: overlap)
    wd = str(tmp_path / f"overlap_{overlap}")
    train_and_evaluate(c, wd)
    runs[overlap] = wd
  assert len(copies) == 3  # steps 50, 100, 150 (the last step waits for its end)
  assert _lines(runs[True]) == _lines(runs[False])
  ckpts = {o: checkpoint.Checkpointer(wd, read_only=True) for o, wd in runs.items()}
  assert ckpts[True].steps() == ckpts[False].steps() == [50, 100, 150, 200]
  spec = config_lib.resolve(c, check_devices=False)
  exp = core.Experiment.from_config(spec)
  template = core.init_states(exp, core.seed_keys(spec)[0])
  logged = {r["step"]: r["eval_loss"] for r in _lines(runs[True]) if "eval_loss" in r}
  for step in (50, 100, 150):
    saved = {o: ckpt.restore(template, step)[1] for o, ckpt in ckpts.items()}
    for a, b in zip(jax.tree.leaves(saved[True]), jax.tree.leaves(saved[False])):
      np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert int(np.asarray(saved[True]["step"])[0]) == step
    again = trainer.evaluate_states(exp, saved[True])["loss"]
    assert float(np.mean(again)) == pytest.approx(logged[step], rel=1e-6)
