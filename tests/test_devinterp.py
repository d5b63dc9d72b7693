"""python -m icl.devinterp on a tiny regression run with log-spaced checkpoints:
llc.jsonl and essential_dynamics.json for every stored step, and icl.plot's figure.
The estimator's calibration is tests/probes/test_llc.py; here the wiring."""

import json
import math
import os

from configs.regression import get_config
from icl import devinterp, plot
from icl import workdir as workdir_lib
from icl.train import checkpoint as checkpoint_lib
from icl.train import train_and_evaluate
from tests.conftest import run_cli


def test_log_schedule_steps():
  assert checkpoint_lib.log_steps(200, 10, 6) == [10, 20, 40, 70, 110, 200]
  assert checkpoint_lib.log_steps(200, 10, 1) == [200]
  assert checkpoint_lib.log_steps(20, 10, 5) == [10, 20]  # merged by rounding
  steps = checkpoint_lib.log_steps(10_000, 100, 12)
  assert len(steps) == 12 and all(s % 100 == 0 for s in steps)
  ratios = [b / a for a, b in zip(steps[3:], steps[4:])]  # log-spaced: ~constant ratio
  assert max(ratios) / min(ratios) < 1.3


def test_devinterp_cli_on_a_tiny_run(tmp_path):
  wd = str(tmp_path / "run")
  c = get_config("tiny")
  c.train.update(dict(num_steps=200, log_every=10, eval_every=100, ckpt_every=100,
                      keep_ckpts=6, ckpt_schedule="log", batch_size=64, lr=1e-2))
  c.eval.num_prompts = 256
  c.eval.context_lens = "40"
  c.probes.every = 0
  c.probes.snapshots = 0
  train_and_evaluate(c, wd)
  ckpt = checkpoint_lib.Checkpointer(wd, read_only=True)
  assert ckpt.steps() == [10, 20, 40, 70, 110, 200]  # early steps kept, keep_ckpts = 6
  ckpt.close()

  proc = run_cli("icl.devinterp", f"--workdir={wd}", "--chains=2", "--burnin=20",
                 "--draws=40", "--batch_size=32", "--num_reference=2", "--num_probe=64",
                 timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  llc = devinterp.read_llc(wd)
  assert [r["step"] for r in llc] == [10, 20, 40, 70, 110, 200]
  for r in llc:
    assert math.isfinite(r["llc"]) and r["nonfinite_chains"] == 0
    assert len(r["llc_chains"]) == 2 and len(r["loss_trace"][0]) == 60
    assert r["nbeta"] == 60.0 and r["gamma"] == 6.0 and r["stability"] < 4
  with open(os.path.join(wd, devinterp.ED_FILE)) as f:
    ed = json.load(f)
  assert ed["steps"] == [10, 20, 40, 70, 110, 200] and ed["num_probe"] == 64
  ratios = ed["explained_variance_ratio"]
  assert len(ratios) == 3 and ratios[0] >= ratios[1] >= ratios[2] and sum(ratios) <= 1 + 1e-9
  assert set(ed["candidate_boundaries"]) <= set(ed["steps"][1:-1])
  assert "devinterp.png" in plot.make_figures(wd)

  bad = run_cli("icl.devinterp", f"--workdir={wd}", "--seed_index=3", timeout=600)
  assert bad.returncode == 2 and "seed_index" in bad.stderr
  assert workdir_lib.read_metrics(wd)
