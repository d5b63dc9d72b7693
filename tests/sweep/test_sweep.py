"""python -m icl.sweep: grid expansion, kill and resume, summary.csv, Ray."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO, run_cli

SWEEP_CONFIG = """
from configs.sweeps import heads

def get_config(variant=None):
  c = heads.get_config("quick")
  c.base.train.num_steps = 20
  c.base.train.log_every = 10
  c.base.train.eval_every = 20
  c.base.train.ckpt_every = 20
  c.base.probes.every = 5  # probe-only metrics lines between the chunk lines
  c.grid.model.num_heads = {heads}
  return c
"""


def sweep_config(tmp_path, heads=(1, 2, 4)) -> str:
  path = tmp_path / "sweep_config.py"
  path.write_text(SWEEP_CONFIG.format(heads=list(heads)))
  return str(path)


def snapshot(point_dir):
  return {os.path.join(root, f): os.stat(os.path.join(root, f)).st_mtime_ns
          for root, _, files in os.walk(point_dir) for f in files}


def read_summary(directory):
  with open(os.path.join(directory, "summary.csv")) as f:
    return list(csv.DictReader(f))


def test_heads_config_expands_to_four_programs():
  from configs.sweeps import heads
  from icl.sweep import grid
  points = grid.expand(heads.get_config())
  assert [p.name for p in points] == [f"num_heads={h}" for h in (1, 2, 4, 8)]
  assert [p.config.model.num_heads for p in points] == [1, 2, 4, 8]
  assert all(p.config.train.num_seeds == 3 for p in points)
  quick = grid.expand(heads.get_config("quick"))
  assert all(p.config.train.num_steps <= 100 for p in quick)


def test_killed_sweep_resumes_only_the_missing_points(tmp_path):
  config, out = sweep_config(tmp_path), str(tmp_path / "sweep")
  env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=REPO)
  proc = subprocess.Popen([sys.executable, "-m", "icl.sweep", f"--config={config}",
                           f"--workdir={out}"], cwd=REPO, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  first = os.path.join(out, "num_heads=1")
  deadline = time.time() + 600
  while not os.path.exists(os.path.join(first, "DONE")):
    assert proc.poll() is None and time.time() < deadline, "sweep ended before point 1"
    time.sleep(0.5)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  done_before = {d for d in os.listdir(out)
                 if os.path.exists(os.path.join(out, d, "DONE"))}
  assert "num_heads=1" in done_before and len(done_before) < 3
  before = {d: snapshot(os.path.join(out, d)) for d in done_before}
  assert not os.path.exists(os.path.join(out, "summary.csv"))

  rerun = run_cli("icl.sweep", f"--config={config}", f"--workdir={out}", timeout=900)
  assert rerun.returncode == 0, rerun.stderr[-3000:]
  for d in done_before:
    assert f"{d}: already done, skipped" in rerun.stderr
    assert snapshot(os.path.join(out, d)) == before[d]  # not a file touched
  rows = read_summary(out)
  assert [r["point"] for r in rows] == ["num_heads=1", "num_heads=2", "num_heads=4"]
  assert [r["model.num_heads"] for r in rows] == ["1", "2", "4"]
  for r in rows:
    assert r["status"] == "done" and r["step"] == "20" and r["num_seeds"] == "2"
    assert 0.2 < float(r["eval_loss"]) < 3 and float(r["eval_loss_se"]) > 0
    with open(os.path.join(out, r["point"], "metrics.jsonl")) as f:
      last = [json.loads(line) for line in f][-1]
    assert float(r["eval_loss"]) == pytest.approx(last["eval_loss"])

  again = run_cli("icl.sweep", f"--config={config}", f"--workdir={out}", timeout=300)
  assert again.returncode == 0 and again.stderr.count("already done, skipped") == 3


def one_line_error(proc):
  lines = [l for l in proc.stderr.splitlines() if l.strip() and "WARNING" not in l]
  assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error:"), \
      proc.stderr
  return lines[0]


def test_foreign_dir_and_bad_grid_are_one_line_errors(tmp_path):
  config = sweep_config(tmp_path)
  foreign = tmp_path / "foreign"
  foreign.mkdir()
  (foreign / "notes.txt").write_text("mine")
  line = one_line_error(run_cli("icl.sweep", f"--config={config}",
                                f"--workdir={foreign}", timeout=300))
  assert "not an icl sweep dir" in line
  bad = tmp_path / "bad.py"
  bad.write_text(SWEEP_CONFIG.format(heads=[0, 2]))
  line = one_line_error(run_cli("icl.sweep", f"--config={bad}",
                                f"--workdir={tmp_path / 'x'}", timeout=300))
  assert "num_heads=0" in line and "model.num_heads" in line
  assert not os.path.exists(tmp_path / "x")


def test_ray_backend_runs_the_same_points(tmp_path):
  if os.environ.get("CI"):  # CI installs icl[ray]: there this path must run, not skip
    import ray
  else:
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'icl[ray]')")
  from configs.sweeps import heads
  from icl.sweep import backends, grid
  c = heads.get_config("quick")
  c.base.train.num_steps, c.base.train.log_every = 20, 10
  c.base.train.eval_every = c.base.train.ckpt_every = 20
  c.grid.model.num_heads = [1, 2]
  points = grid.expand(c)
  out = str(tmp_path / "ray_sweep")
  grid.prepare_dir(out, c, points)
  ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": {
      "PYTHONPATH": REPO, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": ""}})
  try:
    errors = backends.run_ray(points, "", 1, 0, lambda name, msg: None)
  finally:
    ray.shutdown()
  assert errors == {"num_heads=1": None, "num_heads=2": None}
  grid.write_summary(out, points)
  rows = read_summary(out)
  assert [r["status"] for r in rows] == ["done", "done"]
  assert all(os.path.exists(os.path.join(out, r["point"], "DONE")) for r in rows)


def test_plot_and_evaluate_on_the_heads_quick_sweep_dir(tmp_path):
  """The heads sweep's quick variant (two of its points): icl.evaluate writes every
  point's eval.json and a sweep table equal to them; icl.plot draws every point's
  figures and the sweep's metrics against num_heads."""
  out = str(tmp_path / "heads")
  run_cli("icl.sweep", f"--config={sweep_config(tmp_path, heads=(1, 2))}",
          f"--workdir={out}", check=True)
  proc = run_cli("icl.evaluate", f"--workdir={out}", "--context_lens=40",
                 "--num_prompts=512", check=True)
  assert "num_heads=1" in proc.stdout and "num_heads=2" in proc.stdout
  with open(os.path.join(out, "eval_summary.csv")) as f:
    rows = {r["point"]: r for r in csv.DictReader(f)}
  for h in (1, 2):
    with open(os.path.join(out, f"num_heads={h}", "eval.json")) as f:
      mse = json.load(f)["context_len"]["40"]
    assert float(rows[f"num_heads={h}"]["mse@40"]) == pytest.approx(mse, rel=1e-6)
  proc = run_cli("icl.plot", f"--workdir={out}", check=True)
  assert os.path.exists(os.path.join(out, "figures", "metrics_vs_num_heads.png"))
  for h in (1, 2):
    assert os.path.exists(os.path.join(out, f"num_heads={h}", "figures", "omega_mu.png"))


def test_a_point_running_elsewhere_is_skipped(tmp_path):
  """A point whose work dir another live process holds (here: this test, through
  the same OS lock the trainer takes) is reported and not started twice."""
  from icl import workdir as workdir_lib
  config, out = sweep_config(tmp_path, heads=(1, 2)), str(tmp_path / "sweep")
  first = run_cli("icl.sweep", f"--config={config}", f"--workdir={out}", "--dry_run",
                  check=True)
  assert "num_heads=1: to run" in first.stderr
  os.makedirs(os.path.join(out, "num_heads=1"))
  with workdir_lib.Lock(os.path.join(out, "num_heads=1")):
    proc = run_cli("icl.sweep", f"--config={config}", f"--workdir={out}", "--dry_run",
                   check=True)
  assert "num_heads=1: running in another process, skipped" in proc.stderr
  assert "num_heads=2: to run" in proc.stderr
  assert "num_heads=1: to run" not in proc.stderr


def test_points_trained_and_evaluated_in_one_process_leave_no_executables_behind(tmp_path):
  """Every point's programs are its own Experiment's jits (icl/programs.py): a
  process that trains point after point (parallel=1, a pool worker, a Ray worker)
  or evaluates a sweep dir must not keep them. Two tiny points at different learning
  rates (two sets of programs) leave as many live executables as one (the kept ones
  take no Experiment); with jits that hold their Experiment each point added five in
  training and two in evaluation."""
  import gc

  import ml_collections
  from jax.extend import backend

  from configs import regression
  from icl.sweep import grid, report

  def live() -> int:
    gc.collect()
    return len(backend.get_backend().live_executables())

  sweep = ml_collections.ConfigDict({"base": regression.get_config("tiny").to_dict(),
                                     "grid": {"train": {"lr": [1e-3, 2e-3]}}})
  points = grid.expand(sweep)
  directory = str(tmp_path / "sweep")
  grid.prepare_dir(directory, sweep, points)
  trained = []
  for p in points:
    grid.run_point(p.config.to_dict(), p.workdir)
    trained.append(live())
  evaluated = []
  report.evaluate_sweep(directory, [40], 256, on_point=lambda *_: evaluated.append(live()))
  assert trained[1] == trained[0] and evaluated[1] == evaluated[0], (trained, evaluated)
