"""Settings shared by the figure notebooks (imported as `from _common import *`).

QUICK (env ICL_NOTEBOOK_QUICK=1, what the tests set) shrinks every run to seconds and
writes figures to a scratch folder; the full setting writes them to docs/figures/.
Runs live under RUNS (env ICL_RUNS, default runs/ at the repository root) so a rerun
reuses finished trainings instead of retraining.
"""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402,F401  (re-exported to the notebooks)

QUICK = os.environ.get("ICL_NOTEBOOK_QUICK", "0") == "1"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) if "__file__" in globals() \
    else os.path.dirname(os.getcwd()) if os.path.basename(os.getcwd()) == "notebooks" \
    else os.getcwd()
RUNS = os.environ.get("ICL_RUNS", os.path.join(ROOT, "runs"))
if QUICK:
  RUNS = os.path.join(RUNS, "quick")
FIGURES = os.environ.get("ICL_FIGURES",
                         os.path.join(RUNS, "figures") if QUICK
                         else os.path.join(ROOT, "docs", "figures"))
os.makedirs(FIGURES, exist_ok=True)


def save(fig, name: str) -> str:
  """Saves `fig` as FIGURES/<name>.png and returns the path."""
  path = os.path.join(FIGURES, f"{name}.png")
  fig.savefig(path, dpi=120, bbox_inches="tight")
  return path


def experiment_config(variant: str | None = None, **overrides):
  """configs/regression.py:<variant> with dotted overrides ('model.num_heads': 4);
  QUICK shortens training to a few hundred steps at a larger learning rate."""
  import sys
  sys.path.insert(0, ROOT)
  from configs.regression import get_config
  config = get_config(variant)
  if QUICK:
    config.train.num_steps = 300
    config.train.lr = 1e-2
    config.train.log_every = config.train.eval_every = config.train.ckpt_every = 100
    config.eval.num_prompts = 2048
    if "probes" in config:
      config.probes.every = 100
  for key, value in overrides.items():
    node = config
    *path, last = key.split(".")
    for part in path:
      node = node[part]
    node[last] = value
  return config


def train(name: str, config) -> str:
  """Trains (or, when finished, reloads) the run RUNS/<name>; returns its work dir."""
  from icl.train import train_and_evaluate
  workdir = os.path.join(RUNS, name)
  train_and_evaluate(config, workdir)
  return workdir


HEADS = (1, 2, 4, 8)


def heads_runs() -> dict:
  """The paper's head-count sweep (configs/sweeps/heads.py: H = 1, 2, 4, 8, four seeds
  vmapped in one program each), trained once by `python -m icl.sweep` under
  RUNS/heads/ (finished points are skipped on a rerun); returns {H: work dir}."""
  import subprocess
  import sys
  directory = os.path.join(RUNS, "heads")
  variant = ":quick" if QUICK else ""
  subprocess.run([sys.executable, "-m", "icl.sweep",
                  f"--config=configs/sweeps/heads.py{variant}",
                  f"--workdir={directory}"], cwd=ROOT, check=True)
  return {h: os.path.join(directory, f"num_heads={h}") for h in HEADS}


def seed_slice(tree, seed: int = 0):
  """One seed of a multi-seed pytree (leading axis)."""
  import jax
  return jax.tree.map(lambda a: a[seed], tree)


def lgd_config(arg: str, quick_steps: int = 150):
  """configs/linear_gd.py:<arg> (variants and aliases, comma-separated); QUICK trains
  `quick_steps` steps at batch 256 without probes and evaluates on 2048 prompts."""
  import sys
  sys.path.insert(0, ROOT)
  from configs.linear_gd import get_config
  config = get_config(arg)
  if QUICK:
    config.train.num_steps = quick_steps
    config.train.warmup_steps = min(config.train.warmup_steps, quick_steps // 10)
    config.train.batch_size = 256
    config.train.log_every = config.train.eval_every = config.train.ckpt_every = quick_steps
    config.eval.num_prompts = config.eval.batch_size = 2048
    config.probes.every = 0
  return config
