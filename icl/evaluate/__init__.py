"""python -m icl.evaluate --workdir=DIR: the latest checkpoint on fresh prompts.

The package: `loading` (a checkpoint back in memory), `evaluation` (the model at
several prompt lengths), `theory` (the theory predictors on the same prompts),
`report` (the printed table), `curves` (per-position error curves of function-class
runs beside their baselines, on pool and fresh tasks: eval.json's "curves"),
`task_diversity` (python -m icl.evaluate.task_diversity: Raventós' M-sweep read
out); `__main__` is the command line.

Evaluates every seed of the run at several context lengths (default: the config's
``eval.context_lens``, else 10,20,40,60,80,100) on ``eval.num_prompts`` fresh
prompts each and writes ``<workdir>/eval.json``:

  {"step": 20000, "num_prompts": 20000, "num_seeds": 1,
   "context_len": {"10": mse, ...}, "context_len_se": {...},
   "context_len_seeds": {"10": [mse of seed 0, ...], ...}}

With S seeds, "context_len" is the mean over seeds and "context_len_se" the standard
error over seeds (S = 1: the Monte-Carlo error over prompts). With config.sweep,
the top-level numbers pool all sweep points and "points" holds, per point label
(e.g. "lr=0.001"), the same three dicts over that point's seeds (docs/sweeps.md).
"""

from icl.evaluate.evaluation import DEFAULT_LENGTHS, evaluate_workdir
from icl.evaluate.loading import load_run
from icl.evaluate.report import format_table

__all__ = ["DEFAULT_LENGTHS", "evaluate_workdir", "format_table", "load_run"]
