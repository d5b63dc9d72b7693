"""icl.evaluate on a missing, empty or foreign work dir: one line, exit status 2."""

import json

import pytest

from tests.conftest import run_cli


def make(tmp_path, kind):
  wd = tmp_path / "wd"
  if kind == "missing":
    return wd
  wd.mkdir()
  if kind == "not_json":
    (wd / "config.json").write_text("{\"task\": ")  # a torn write
  elif kind == "foreign_json":
    (wd / "config.json").write_text(json.dumps({"model": "resnet50", "epochs": 90}))
  elif kind == "foreign_sections":
    (wd / "config.json").write_text(json.dumps(
        {"task": {}, "model": {}, "train": {}, "eval": {}}))
  elif kind == "files_only":
    (wd / "notes.txt").write_text("hello")
  return wd


@pytest.mark.parametrize("kind,needle", [
    ("missing", "does not exist"),
    ("files_only", "not an icl run"),
    ("not_json", "not valid JSON"),
    ("foreign_json", "not an icl config"),
    ("foreign_sections", "not an icl run"),
])
def test_evaluate_bad_workdir(tmp_path, kind, needle):
  proc = run_cli("icl.evaluate", f"--workdir={make(tmp_path, kind)}", timeout=300)
  assert proc.returncode == 2, proc.stderr[-2000:]
  lines = [l for l in proc.stderr.splitlines() if l.strip() and "WARNING" not in l]
  assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
  assert needle in lines[0]
