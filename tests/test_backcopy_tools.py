"""The tools on one short bigram-backcopy run (a token task with query groups):
python -m icl.plot draws sink.png; icl.evaluate takes its token-task branch."""

import json
import os

import matplotlib.image
import numpy as np
import pytest

from configs import backcopy
from icl import evaluate, workdir as workdir_lib
from icl.train import train_and_evaluate
from tests.conftest import run_cli

pytestmark = pytest.mark.xdist_group("backcopy_tools")  # one worker trains the run once


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> str:
  wd = str(tmp_path_factory.mktemp("backcopy") / "run")
  c = backcopy.get_config("tiny")
  c.train.update(dict(num_steps=20, log_every=10, eval_every=20, ckpt_every=20,
                      batch_size=8))
  c.eval.num_prompts = 16
  c.eval.batch_size = 16
  c.probes.every = 10
  c.probes.num_prompts = 16
  c.probes.snapshots = 4
  train_and_evaluate(c, wd)
  return wd


def test_plot_cli_writes_sink_png(run):
  records = [r for r in workdir_lib.read_metrics(run) if "probe/sink_trigger/l0h0" in r]
  assert [r["step"] for r in records] == [10, 20]  # the data sink.png draws
  assert all("probe/sink_logit_nontrigger/l0h0" in r for r in records)
  proc = run_cli("icl.plot", f"--workdir={run}", "--dpi=40", timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  figures = os.path.join(run, "figures")
  # Exactly the figures this run has data for: snapshots (weights), attention probes,
  # query-group sink probes; no regression patterns, no eval.json.
  assert proc.stdout.split() == [os.path.join(figures, name) for name in (
      "weights.png", "weights_evolution.png", "attention.png", "sink.png")]
  with open(os.path.join(figures, "sink.png"), "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  image = matplotlib.image.imread(os.path.join(figures, "sink.png"))
  height, width = image.shape[:2]
  assert 300 < width <= 13 * 40 and 60 < height <= 3.4 * 40  # figsize (13, 3.4) at 40 dpi
  assert len(np.unique(image.reshape(-1, image.shape[-1]), axis=0)) > 20  # curves drawn


def test_evaluate_token_task_branch(run):
  """No prompt length to vary: eval.json has no lengths and no theory, and its
  metrics are the trainer's last evaluation (the same fixed prompts)."""
  last = workdir_lib.read_metrics(run)[-1]
  result = evaluate.evaluate_workdir(run, [8, 16], num_prompts=16)  # lengths ignored
  stored = workdir_lib.jsonable(result)
  with open(os.path.join(run, "eval.json")) as f:
    assert json.load(f) == stored
  assert result["context_len"] == {} and result["context_len_seeds"] == {}
  assert "theory" not in result and "reduced" not in result
  assert result["step"] == 20 and result["num_prompts"] == 16 and result["num_seeds"] == 1
  names = {k[len("eval_"):] for k in last if k.startswith("eval_")}
  assert {"loss", "acc", "acc_trigger", "loss_bigram"} <= names
  assert set(result["metrics"]) == names
  for name in names:
    assert result["metrics"][name] == pytest.approx(last[f"eval_{name}"], rel=1e-5)
  table = evaluate.format_table(result)
  printed = {p[0]: float(p[1]) for p in (l.split() for l in table.splitlines())
             if len(p) == 2 and p[0] in names}
  assert printed.keys() == names, table
  for name, value in printed.items():
    assert value == pytest.approx(result["metrics"][name], abs=6e-5)
