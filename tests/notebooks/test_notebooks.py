"""Every notebook under notebooks/ runs, and the tests know every one of them.

The figure notebooks (NN_*.py) are jupytext percent-format .py files; each is converted
in memory and executed with nbclient (a cell error fails the test) in QUICK mode,
which shrinks training to seconds and writes runs and figures under a temporary
folder.

The two task scripts (parity_analysis.py, tasks_mqar_pairs.py) have no QUICK mode:
they read finished runs named on their command line and write their figure to
<repository>/docs/figures/. Their tests train tiny runs here and run each script,
copied with the whole notebooks/ folder into a scratch root (the scripts locate
docs/figures/ from their own path), so the committed figures are never touched.
"""

import glob
import json
import os
import shutil
import subprocess
import sys

import pytest

jupytext = pytest.importorskip("jupytext", reason="needs the [notebooks] extra")
nbclient = pytest.importorskip("nbclient", reason="needs the [notebooks] extra")

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NOTEBOOK_DIR = os.path.join(REPO, "notebooks")
FIGURE_NOTEBOOKS = [
    "01_weight_heatmaps.py", "02_omega_mu_dynamics.py", "03_pattern_probes.py",
    "04_loss_vs_context_length.py", "05_reduced_dynamics.py", "06_superposition.py",
    "07_softmax_vs_linear_length.py", "08_anisotropic_covariates.py",
    "09_lsa_prior_mean_heads.py", "10_lsa_layers_and_shift.py", "11_devinterp_stages.py",
    "12_function_classes.py", "13_task_diversity.py"]
# QUICK still trains several models each (09, 10: 3-4 models and least squares, ~35 s
# of CPU each cold; 12, 13: Tiny GPT-2 runs and baselines, 55-96 s of CPU): run with
# `-m slow`, outside CI's budget.
SLOW_NOTEBOOKS = {"09_lsa_prior_mean_heads.py", "10_lsa_layers_and_shift.py",
                  "12_function_classes.py", "13_task_diversity.py"}
SCRIPTS = ["parity_analysis.py", "tasks_mqar_pairs.py"]
SHARED = ["_common.py"]  # imported by the figure notebooks, not run on its own


def test_every_notebook_on_disk_is_tested():
  on_disk = sorted(os.path.basename(p) for p in glob.glob(os.path.join(NOTEBOOK_DIR, "*.py")))
  assert on_disk == sorted(FIGURE_NOTEBOOKS + SCRIPTS + SHARED)
  assert sorted(glob.glob(os.path.join(NOTEBOOK_DIR, "[0-9][0-9]_*.py"))) == [
      os.path.join(NOTEBOOK_DIR, name) for name in FIGURE_NOTEBOOKS]


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
  """One runs folder for all notebooks: they share the heads sweep, as users do."""
  return tmp_path_factory.mktemp("notebook_runs")


@pytest.mark.xdist_group("notebooks")  # one worker, in order, sharing runs_dir
@pytest.mark.parametrize("name", [
    pytest.param(name, marks=pytest.mark.slow) if name in SLOW_NOTEBOOKS else name
    for name in FIGURE_NOTEBOOKS])
def test_notebook_runs_in_quick_mode(name, runs_dir, monkeypatch):
  monkeypatch.setenv("ICL_NOTEBOOK_QUICK", "1")
  monkeypatch.setenv("ICL_RUNS", str(runs_dir))
  monkeypatch.setenv("JAX_PLATFORMS", "cpu")
  monkeypatch.setenv("XLA_FLAGS", "")  # one host device, as a user's kernel has
  notebook = jupytext.read(os.path.join(NOTEBOOK_DIR, name))
  client = nbclient.NotebookClient(
      notebook, timeout=600, kernel_name="python3",
      resources={"metadata": {"path": NOTEBOOK_DIR}})
  client.execute()
  prefix = f"fig{int(name[:2])}_"  # 01_... saves fig1_*.png, 10_... fig10_*.png
  figures = glob.glob(str(runs_dir / "quick" / "figures" / f"{prefix}*.png"))
  assert figures, "the notebook saved no figure"


# --- the task scripts, on tiny runs ------------------------------------------------------


def _run_script(root, name: str, *args: str) -> list[str]:
  """Runs notebooks/<name> from a copy of notebooks/ under `root` (so its figure goes
  to root/docs/figures); returns its stdout lines."""
  if not os.path.exists(root / "notebooks"):
    shutil.copytree(NOTEBOOK_DIR, root / "notebooks",
                    ignore=shutil.ignore_patterns("__pycache__"))
    os.makedirs(root / "docs" / "figures")
  env = dict(os.environ, PYTHONPATH=REPO, JAX_PLATFORMS="cpu", XLA_FLAGS="",
             MPLBACKEND="Agg")
  proc = subprocess.run([sys.executable, str(root / "notebooks" / name), *args],
                        cwd=str(root), env=env, capture_output=True, text=True,
                        timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return proc.stdout.splitlines()


def _tiny(config, steps: int, every: int, probes: int = 0):
  config.model.d_model = 16
  config.train.num_steps = config.train.ckpt_every = steps
  config.train.log_every = config.train.eval_every = every
  config.train.batch_size = 32
  config.probes.every = probes
  config.probes.num_prompts = 64
  config.probes.snapshots = 0
  config.eval.num_prompts = config.eval.batch_size = 128
  return config


def test_parity_analysis_runs_on_tiny_runs(tmp_path):
  from configs import parity
  from icl.train import train_and_evaluate
  sparse = _tiny(parity.get_config("sparse"), steps=40, every=20, probes=20)
  sparse.train.num_seeds = 2
  train_and_evaluate(sparse, str(tmp_path / "sparse"))
  running = _tiny(parity.get_config("running_multi"), steps=20, every=20)
  train_and_evaluate(running, str(tmp_path / "running"))

  lines = _run_script(tmp_path, "parity_analysis.py", "sparse", str(tmp_path / "sparse"))
  reports = [json.loads(line) for line in lines if line.startswith("{")]
  assert [r["seed"] for r in reports] == [0, 1]  # one column per seed
  assert all("l0h0" in r and "probe_x2_step" in r for r in reports)
  assert os.path.exists(tmp_path / "docs" / "figures" / "tasks_sparse_parity.png")

  lines = _run_script(tmp_path, "parity_analysis.py", "running", str(tmp_path / "running"))
  out = json.loads(lines[-1])
  assert out["step"] == 20 and out["curriculum"] == "multi"
  assert all(0.0 <= out[f"acc_n{n}"] <= 1.0 for n in range(1, 7))


def test_tasks_mqar_pairs_runs_on_a_tiny_sweep(tmp_path):
  from configs.sweeps import mqar_pairs
  from icl.train import train_and_evaluate
  for attention, directory in [("linear", "lin"), ("softmax", "sm")]:  # one point each
    c = _tiny(mqar_pairs.get_config().base, steps=20, every=20)
    c.model.d_model = 8
    c.model.attention = attention
    c.task.num_pairs = 2
    c.task.seq_len = 16
    train_and_evaluate(c, str(tmp_path / directory / "num_pairs=2"))
  lines = _run_script(tmp_path, "tasks_mqar_pairs.py", str(tmp_path / "lin"),
                      str(tmp_path / "sm"))
  assert sum(line.startswith("linear") for line in lines) == 1
  assert sum(line.startswith("softmax") for line in lines) == 1
  assert any("random-embedding memory" in line for line in lines)
  assert os.path.exists(tmp_path / "docs" / "figures" / "tasks_mqar_pairs.png")
