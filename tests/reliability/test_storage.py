"""Storage faults: a corrupt latest checkpoint falls back to the previous one; an
incompatible or unwritable work dir fails at start with one line."""

import glob
import logging
import os

import pytest

from configs import regression
from icl import workdir as workdir_lib
from icl.train import train_and_evaluate
from tests.conftest import run_cli
from tests.reliability.common import assert_same_state, final_state, history, small


def truncate(path):
  with open(path, "r+b") as f:
    f.truncate(os.path.getsize(path) // 2)


def flip_bytes(path):
  with open(path, "r+b") as f:
    data = bytearray(f.read())
    for i in range(len(data) // 2, len(data), max(len(data) // 64, 1)):
      data[i] ^= 0xFF
    f.seek(0)
    f.write(data)


@pytest.mark.parametrize("damage", [truncate, flip_bytes])
def test_corrupt_latest_checkpoint_falls_back_to_the_previous(tmp_path, caplog, damage):
  wd = str(tmp_path / "run")
  train_and_evaluate(small(), wd)  # checkpoints at 30 and 60
  expected_history, (_, expected) = history(wd), final_state(wd)
  files = [p for p in glob.glob(os.path.join(wd, "checkpoints", "60", "state", "**"),
                                recursive=True)
           if os.path.isfile(p) and "/d/" in p]  # the array data files
  assert files
  for path in files:
    damage(path)
  os.remove(os.path.join(wd, "DONE"))

  with caplog.at_level(logging.WARNING):
    train_and_evaluate(small(), wd)  # resumes from 30, redoes 30..60
  warning = [r.getMessage() for r in caplog.records if "corrupt" in r.getMessage()]
  assert any("step 60" in m and "falling back to step 30" in m for m in warning), warning
  assert os.path.isdir(os.path.join(wd, "checkpoints.corrupt", "60"))
  assert history(wd) == expected_history
  step, state = final_state(wd)
  assert step == 60
  assert_same_state(state, expected)


def test_incompatible_workdir_refused_on_the_command_line(tmp_path):
  wd = tmp_path / "run"
  wd.mkdir()
  workdir_lib.write_config(str(wd), small())  # a run with 2 heads
  proc = run_cli("icl.train", "--config=configs/regression.py:tiny", f"--workdir={wd}",
                 "--config.model.num_heads=4", timeout=300)
  assert proc.returncode == 2, proc.stderr[-2000:]
  lines = [l for l in proc.stderr.splitlines() if l.strip() and "WARNING" not in l]
  assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
  assert "model.num_heads: 2 -> 4" in lines[0] and "--config.overwrite=True" in lines[0]


def test_unwritable_workdir_fails_at_start(tmp_path):
  # A path below a regular file cannot be created, even by root (where chmod would
  # not stop writes).
  (tmp_path / "afile").write_text("not a directory")
  wd = tmp_path / "afile" / "sub"
  proc = run_cli("icl.train", "--config=configs/regression.py:tiny", f"--workdir={wd}",
                 timeout=300)
  assert proc.returncode == 2, proc.stderr[-2000:]
  lines = [l for l in proc.stderr.splitlines() if l.strip() and "WARNING" not in l]
  assert len(lines) == 1 and "is not writable" in lines[0], proc.stderr
  assert "step" not in proc.stderr  # no training happened


def test_the_write_check_leaves_other_processes_files_alone(tmp_path):
  """Every process of a multi-host run checks the work dir; one's check file is
  never another's (a shared name let one process remove it under the other)."""
  from icl import config_lib
  from icl.train import trainer
  wd = tmp_path / "run"
  wd.mkdir()
  held = wd / ".write_test"  # as another process's check would hold it
  held.write_text("ok")
  spec = config_lib.resolve(regression.get_config("tiny"))
  trainer.prepare_workdir(str(wd), spec)
  assert held.read_text() == "ok"
  assert sorted(p.name for p in wd.iterdir()) == [".write_test"]  # its own file is gone


def test_a_reader_retries_when_a_step_vanishes_while_it_lists(tmp_path, monkeypatch):
  """Next to a live run (icl.evaluate), the trainer deletes old steps while orbax
  lists them: the listing raises FileNotFoundError (seen in CI as "checkpoints/660:
  No such file or directory"). The reader lists again; a writer does not retry."""
  from icl.train import checkpoint
  wd = str(tmp_path / "run")
  train_and_evaluate(small(), wd)  # checkpoints at 30 and 60
  reader = checkpoint.Checkpointer(wd, read_only=True)
  real, calls = reader.manager.latest_step, []

  def vanishing():
    calls.append(1)
    if len(calls) <= 2:
      raise FileNotFoundError(2, "No such file or directory", "checkpoints/30")
    return real()
  monkeypatch.setattr(reader.manager, "latest_step", vanishing)
  assert reader.latest_step() == 60 and len(calls) == 3
  calls.clear()
  _, template = final_state(wd)
  step, _ = reader.restore(template)
  assert step == 60 and len(calls) == 3
  reader.close()
  writer = checkpoint.Checkpointer(wd)
  calls.clear()
  monkeypatch.setattr(writer.manager, "latest_step", vanishing)
  with pytest.raises(FileNotFoundError):
    writer.latest_step()
  writer.close()
