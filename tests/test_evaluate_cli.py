"""python -m icl.evaluate on a finished regression run: eval.json and the printed
table (the token-task branch: tests/test_backcopy_tools.py).

The evaluation prompts are fixed per run (trainer.eval_key), so the CLI's number at the
training length with the config's eval.num_prompts is the trainer's last eval_loss, and
its numbers for given --context_lens / --num_prompts are the library's for the same
arguments.
"""

import json
import math
import os

import pytest

from configs.regression import get_config
from icl import evaluate, workdir as workdir_lib
from icl.train import train_and_evaluate
from tests.conftest import run_cli


def regression_run(workdir: str) -> None:
  c = get_config("tiny")  # L = 40
  c.eval.context_lens = "40"
  c.train.update(dict(num_steps=20, log_every=10, eval_every=20, ckpt_every=20,
                      batch_size=32, num_seeds=2, lr=1e-2))
  c.eval.num_prompts = 256
  c.eval.batch_size = 256
  c.probes.every = 0
  c.probes.snapshots = 0
  train_and_evaluate(c, workdir)


def read_eval(workdir: str) -> dict:
  with open(os.path.join(workdir, "eval.json")) as f:
    return json.load(f)


def table_rows(stdout: str) -> dict[str, list[float]]:
  """{L: [model mse, se, theory...]} from the printed table."""
  rows = {}
  for line in stdout.splitlines():
    parts = line.split()
    if parts and parts[0].isdigit():
      rows[parts[0]] = [float(p) for p in parts[1:]]
  return rows


def test_regression_run_with_context_lens_and_num_prompts(tmp_path):
  wd = str(tmp_path / "run")
  regression_run(wd)
  last = workdir_lib.read_metrics(wd)[-1]
  proc = run_cli("icl.evaluate", f"--workdir={wd}", "--context_lens=20,40",
                 "--num_prompts=512", timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  out = read_eval(wd)
  assert out["step"] == 20 and out["num_seeds"] == 2
  assert out["num_prompts"] == 512  # the flag, not eval.num_prompts = 256
  assert list(out["context_len"]) == ["20", "40"]  # the flag, not eval.context_lens
  for length in ("20", "40"):
    seeds = out["context_len_seeds"][length]
    assert len(seeds) == 2
    assert out["context_len"][length] == pytest.approx(sum(seeds) / 2, rel=1e-9)
    se = abs(seeds[0] - seeds[1]) / 2  # std(ddof=1) / sqrt(2) for two values
    assert out["context_len_se"][length] == pytest.approx(se, rel=1e-6)
  assert set(out["theory"]) == {"ridge", "gd_opt", "debiased_gd", "kernel", "reduced"}
  assert all(list(v) == ["20", "40"] for v in out["theory"].values())
  assert out["theory"]["ridge"]["40"] < out["theory"]["ridge"]["20"]  # more examples
  assert len(out["reduced"]["omega"]) == 2  # per seed
  # The printed table is eval.json, to its 4 decimals.
  rows = table_rows(proc.stdout)
  assert list(rows) == ["20", "40"], proc.stdout
  for length, row in rows.items():
    assert row[0] == pytest.approx(out["context_len"][length], abs=6e-5)
    assert row[1] == pytest.approx(out["context_len_se"][length], abs=6e-5)
  # The metrics at the training length use --num_prompts prompts too.
  assert out["metrics"]["loss"] == pytest.approx(out["context_len"]["40"], rel=1e-6)

  # Without the flags: the config's lengths and prompt count, whose number at L = 40
  # is the trainer's final evaluation, seed by seed.
  default = evaluate.evaluate_workdir(wd)
  assert list(default["context_len"]) == ["40"] and default["num_prompts"] == 256
  assert default["context_len"]["40"] == pytest.approx(last["eval_loss"], rel=1e-5)
  assert default["context_len_seeds"]["40"] == pytest.approx(last["eval_loss/seeds"],
                                                             rel=1e-5)
  # 256 vs 512 prompts: different numbers, within sampling error of each other.
  diff = abs(default["context_len"]["40"] - out["context_len"]["40"])
  assert 0 < diff < 5 * math.hypot(last["eval_loss/se"], out["context_len_se"]["40"]) + 0.05

