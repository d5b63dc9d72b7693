"""python -m icl.sweep --parallel with a point that fails (exit status 1, the other
point finished), then --dry_run on the same directory (lists, trains nothing)."""

import csv
import os
import re

from tests.conftest import run_cli

# Two points: SGD at lr 0.01 trains; at lr 10 the loss overflows within a few steps
# (tests/reliability/test_divergence.py), so that point raises Diverged.
SWEEP_CONFIG = """
import ml_collections
from configs import regression

def get_config(variant=None):
  c = ml_collections.ConfigDict()
  c.base = regression.get_config("tiny")
  c.base.train.update(dict(optimizer="sgd", num_steps=20, log_every=10, eval_every=20,
                           ckpt_every=20, batch_size=32))
  c.base.eval.num_prompts = 256
  c.base.eval.batch_size = 256
  c.base.probes.every = 0
  c.base.probes.snapshots = 0
  c.grid = ml_collections.ConfigDict()
  c.grid.train = ml_collections.ConfigDict()
  c.grid.train.lr = [0.01, 10.0]
  return c
"""
GOOD, BAD = "lr=0.01", "lr=10.0"


def mtimes(directory):
  return {os.path.join(root, f): os.stat(os.path.join(root, f)).st_mtime_ns
          for root, _, files in os.walk(directory) for f in files}


def summary(directory):
  with open(os.path.join(directory, "summary.csv")) as f:
    return {r["point"]: r for r in csv.DictReader(f)}


def test_parallel_sweep_with_a_failing_point_then_dry_run(tmp_path):
  config = tmp_path / "sweep_config.py"
  config.write_text(SWEEP_CONFIG)
  out = str(tmp_path / "sweep")
  proc = run_cli("icl.sweep", f"--config={config}", f"--workdir={out}", "--parallel=2",
                 timeout=900)
  err = proc.stderr
  assert proc.returncode == 1, err[-3000:]
  lines = [l for l in err.splitlines() if l.startswith("[sweep]")]
  # The pool: both points submitted before any result (sequential runs say "running").
  assert lines[:2] == [f"[sweep] {GOOD}: submitted", f"[sweep] {BAD}: submitted"], lines
  assert not any(": running" in l for l in lines)
  assert any(re.fullmatch(rf"\[sweep\] {GOOD}: done in \d+s, eval_loss \d\.\d{{4}}", l)
             for l in lines), lines
  failed = [l for l in lines if l.startswith(f"[sweep] {BAD}: failed: ")]
  assert len(failed) == 1 and re.search(r"Diverged: non-finite loss at step \d+ \(seed 0\)",
                                        failed[0]), lines
  assert lines[-2:] == [
      f"[sweep] 1/2 points finished; summary: {os.path.join(out, 'summary.csv')}",
      f"[sweep] failed: {BAD} (rerun the command to retry them)"]
  assert os.path.exists(os.path.join(out, GOOD, "DONE"))
  assert not os.path.exists(os.path.join(out, BAD, "DONE"))
  rows = summary(out)
  assert list(rows) == [GOOD, BAD]
  assert rows[GOOD]["status"] == "done" and rows[GOOD]["step"] == "20"
  assert rows[GOOD]["train.lr"] == "0.01" and rows[BAD]["train.lr"] == "10.0"
  assert 0 < float(rows[GOOD]["eval_loss"]) < 3
  assert rows[BAD]["status"] == "missing" and rows[BAD]["step"] == "0"  # died in chunk 1
  assert rows[BAD]["eval_loss"] == ""

  before = mtimes(os.path.join(out, GOOD)), mtimes(os.path.join(out, BAD))
  dry = run_cli("icl.sweep", f"--config={config}", f"--workdir={out}", "--dry_run",
                timeout=600)
  assert dry.returncode == 0, dry.stderr[-3000:]
  assert [l for l in dry.stderr.splitlines() if l.startswith("[sweep]")] == [
      f"[sweep] {GOOD}: already done, skipped",
      f"[sweep] {BAD}: to run",
      f"[sweep] 1/2 points finished; summary: {os.path.join(out, 'summary.csv')}"]
  assert (mtimes(os.path.join(out, GOOD)), mtimes(os.path.join(out, BAD))) == before
  assert summary(out) == rows  # rewritten, unchanged
