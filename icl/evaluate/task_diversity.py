"""python -m icl.evaluate.task_diversity --workdir=DIR: Raventós et al.'s M-sweep read out.

See docs/deep_icl.md, "Task diversity". DIR is a sweep directory over
``task.pool_size`` (configs/sweeps/task_diversity.py) or a single run. For every
finished point, on `num_prompts` prompts of pool tasks and as many of fresh tasks
(drawn from the prior; for M = infinity, written M = 0, the two sets coincide), the
means over the K positions (icl.evaluate.curves) of

  <set>/model          the model's loss against the noisy y, / D (Raventós' L / D)
  <set>/dmmse, ridge   the two Bayes estimators' losses (dMMSE: the pool's posterior
                       mean; ridge: lambda = sigma^2, the Gaussian prior's)
  <set>/dist/dmmse     the model's distance to dMMSE, mean (yhat - yhat_dMMSE)^2 / D
  <set>/dist/ridge     and to ridge (Raventós, Eq. 4)

each with '/se' (over seeds when the point has several, else over prompts) and
'/seeds'. `crossover` places the M where the model is as far from dMMSE as from
ridge on pool tasks (log2-linear interpolation between neighbouring M). Writes
DIR/task_diversity.json (rows, crossover) and DIR/figures/task_diversity.png, and
prints a table.
"""

from __future__ import annotations

import json
import math
import os

from absl import app, flags

FLAGS = flags.FLAGS
NAMES = ("model", "dmmse", "ridge", "dist/dmmse", "dist/ridge")
OUT = "task_diversity.json"
SWEEP = "sweep.json"  # a sweep directory's index (icl.sweep.grid.SWEEP)


def define_flags() -> None:
  flags.DEFINE_string("workdir", None, "A task-diversity sweep dir or a single run.")
  flags.DEFINE_integer("num_prompts", None, "Prompts per task set (default: config).")


def point_row(workdir: str, num_prompts: int | None = None) -> dict:
  """One run's row (module docstring)."""
  from icl.evaluate import curves as curves_lib
  from icl.evaluate.loading import load_run
  from icl.train import trainer

  spec, exp, states, step = load_run(workdir)
  num_prompts = num_prompts or spec.eval.num_prompts
  result = curves_lib.evaluate_curves(
      exp, states["params"], trainer.eval_key(spec), num_prompts,
      spec.eval.batch_size, spec.source["task"]["name"], names=("dmmse", "ridge"))
  result.setdefault("pool", result["fresh"])  # M = infinity: pool tasks are fresh ones
  row = {"M": int(exp.task.pool_size), "step": int(step),
         "num_seeds": int(spec.train.num_seeds), "num_prompts": int(num_prompts),
         "workdir": workdir}
  for task_set in ("pool", "fresh"):
    for name in NAMES:
      c = result[task_set].get(name)
      if c is None:
        continue
      key = f"{task_set}/{name}"
      row[key], row[key + "/se"] = c["mean"], c["mean_se"]
      if "seeds_mean" in c:
        row[key + "/seeds"] = c["seeds_mean"]
  return row


def crossover(rows: list[dict], task_set: str = "pool") -> float | None:
  """The M (finite points only) where dist/ridge - dist/dmmse changes sign on
  `task_set`, log2-interpolated between the neighbouring M; None if it does not."""
  pts = sorted((r["M"], r[f"{task_set}/dist/ridge"] - r[f"{task_set}/dist/dmmse"])
               for r in rows if r["M"] and f"{task_set}/dist/dmmse" in r)
  for (m0, g0), (m1, g1) in zip(pts, pts[1:]):
    if g0 > 0 >= g1:  # dMMSE-like below, ridge-like above
      t = g0 / (g0 - g1)
      return float(2 ** (math.log2(m0) + t * (math.log2(m1) - math.log2(m0))))
  return None


def format_rows(rows: list[dict]) -> str:
  cols = [f"{s}/{n}" for s in ("pool", "fresh") for n in NAMES]
  head = f"{'M':>6}" + "".join(f"  {c:>16}" for c in cols)
  lines = [head]
  for r in sorted(rows, key=lambda r: r["M"] or float("inf")):
    cells = "".join(f"  {r[c]:8.4f}±{r.get(c + '/se', 0):6.4f}" if c in r else f"  {'-':>16}"
                    for c in cols)
    lines.append(f"{r['M'] or 'inf':>6}{cells}")
  return "\n".join(lines)


def analyse(directory: str, num_prompts: int | None = None) -> dict:
  """Rows of every finished point (or of the run), the crossover, the figure."""
  from icl import figures
  from icl import workdir as workdir_lib
  sweep_file = os.path.join(directory, SWEEP)
  if os.path.exists(sweep_file):
    with open(sweep_file) as f:
      names = json.load(f)["points"]
    dirs = [os.path.join(directory, n) for n in names]
    dirs = [d for d in dirs if os.path.exists(os.path.join(d, workdir_lib.DONE))]
  else:
    dirs = [directory]
  rows = [point_row(d, num_prompts) for d in dirs]
  out = {"rows": rows, "crossover_pool": crossover(rows, "pool"),
         "crossover_fresh": crossover(rows, "fresh")}
  with open(os.path.join(directory, OUT), "w") as f:
    json.dump(out, f, indent=2)
  if len(rows) > 1:
    import matplotlib.pyplot as plt
    fig = figures.task_diversity(rows, "task diversity: distance to dMMSE and ridge")
    os.makedirs(os.path.join(directory, "figures"), exist_ok=True)
    fig.savefig(os.path.join(directory, "figures", "task_diversity.png"), dpi=110,
                bbox_inches="tight")
    plt.close(fig)
  return out


def main(argv):
  del argv
  out = analyse(FLAGS.workdir, FLAGS.num_prompts)
  print(format_rows(out["rows"]))
  print(f"crossover (pool tasks): M = {out['crossover_pool']}; "
        f"(fresh tasks): M = {out['crossover_fresh']}")


if __name__ == "__main__":
  define_flags()
  app.run(main)
