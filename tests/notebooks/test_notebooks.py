"""Every figure notebook runs top to bottom from a clean kernel in QUICK mode.

The notebooks are jupytext percent-format .py files; each is converted in memory and
executed with nbclient (a cell error fails the test). QUICK mode shrinks training to
seconds and writes runs and figures under a temporary folder.
"""

import glob
import os

import pytest

jupytext = pytest.importorskip("jupytext", reason="needs the [notebooks] extra")
nbclient = pytest.importorskip("nbclient", reason="needs the [notebooks] extra")

NOTEBOOK_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "notebooks")
NOTEBOOKS = sorted(glob.glob(os.path.join(NOTEBOOK_DIR, "[0-9][0-9]_*.py")))


def test_there_is_a_notebook_per_figure_group():
  assert len(NOTEBOOKS) >= 1


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
  """One runs folder for all notebooks: they share the heads sweep, as users do."""
  return tmp_path_factory.mktemp("notebook_runs")


@pytest.mark.xdist_group("notebooks")  # one worker, in order, sharing runs_dir
@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_runs_in_quick_mode(path, runs_dir, monkeypatch):
  monkeypatch.setenv("ICL_NOTEBOOK_QUICK", "1")
  monkeypatch.setenv("ICL_RUNS", str(runs_dir))
  monkeypatch.setenv("JAX_PLATFORMS", "cpu")
  monkeypatch.setenv("XLA_FLAGS", "")  # one host device, as a user's kernel has
  notebook = jupytext.read(path)
  client = nbclient.NotebookClient(
      notebook, timeout=600, kernel_name="python3",
      resources={"metadata": {"path": NOTEBOOK_DIR}})
  client.execute()
  prefix = "fig" + os.path.basename(path)[1]  # 01_... saves fig1_*.png
  figures = glob.glob(str(runs_dir / "quick" / "figures" / f"{prefix}_*.png"))
  assert figures, "the notebook saved no figure"
