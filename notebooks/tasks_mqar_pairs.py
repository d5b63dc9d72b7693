"""docs/figures/tasks_mqar_pairs.png: MQAR accuracy vs K from configs/sweeps/mqar_pairs.py.

  python notebooks/tasks_mqar_pairs.py runs/mqar_pairs runs/mqar_pairs_sm

Each argument is a sweep directory (python -m icl.sweep); one curve per directory,
labelled by its model.attention; the point is the last eval's acc (se over queries).
"""

import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from icl import plotting  # noqa: E402
from icl import workdir as workdir_lib  # noqa: E402

curves, d_k = {}, None
for sweep_dir in sys.argv[1:]:
  rows = []
  for name in sorted(os.listdir(sweep_dir)):
    point = os.path.join(sweep_dir, name)
    if not os.path.exists(os.path.join(point, "DONE")):
      continue
    config = workdir_lib.read_config(point)
    acc = [r["eval_acc"] for r in workdir_lib.read_metrics(point) if "eval_acc" in r][-1]
    n = config.eval.num_prompts * config.task.num_pairs  # queries scored
    rows.append((config.task.num_pairs, acc, math.sqrt(acc * (1 - acc) / n)))
    d_k = config.model.d_model // config.model.num_heads
    attention = config.model.attention
  rows.sort()
  label = f"{attention} attention, width {config.model.d_model}, T = {config.task.seq_len}"
  curves[label] = tuple(zip(*rows))
  print(label, rows)
title = (f"MQAR, V = {config.task.vocab_size}, {config.train.num_steps} steps, "
         f"lr {config.train.lr:g}, seed {config.seed}")
fig = plotting.accuracy_vs_pairs(curves, d_k, title)
path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                    "docs", "figures", "tasks_mqar_pairs.png")
fig.savefig(path, dpi=120, bbox_inches="tight")
print(path)
