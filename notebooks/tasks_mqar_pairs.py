"""docs/figures/tasks_mqar_pairs.png: MQAR accuracy vs K from configs/sweeps/mqar_pairs.py.

  python notebooks/tasks_mqar_pairs.py runs/mqar_pairs runs/mqar_pairs_sm

Each argument is a sweep directory (python -m icl.sweep); one curve per attention kind
and width, the point being the last eval's acc (se over queries). Beside each linear
curve, dashed in the same colour: the recall of an untrained memory M = Σ v kᵀ with
random unit embeddings of the same width (theory.hebbian_recall).
"""

import collections
import math
import os
import sys

import jax

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import theory  # noqa: E402
from icl import figures  # noqa: E402
from icl import workdir as workdir_lib  # noqa: E402

points = collections.defaultdict(list)
for sweep_dir in sys.argv[1:]:
  for name in sorted(os.listdir(sweep_dir)):
    point = os.path.join(sweep_dir, name)
    if not os.path.exists(os.path.join(point, "DONE")):
      continue
    config = workdir_lib.read_config(point)
    acc = [r["eval_acc"] for r in workdir_lib.read_metrics(point) if "eval_acc" in r][-1]
    n = config.eval.num_prompts * config.task.num_pairs  # queries scored
    model = config.model
    conv = f", short conv {model.short_conv}" if model.get("short_conv", 0) else ""
    label = (f"{model.attention}, {model.num_layers} layer{'s' * (model.num_layers > 1)}, "
             f"d_k = {model.d_model // model.num_heads}{conv}")
    points[(model.attention, model.d_model, label)].append(
        (config.task.num_pairs, acc, math.sqrt(acc * (1 - acc) / n)))

curves, references = {}, {}
for (attention, width, label), rows in sorted(points.items()):
  rows.sort()
  curves[label] = tuple(zip(*rows))
  print(label, rows)
  if attention == "linear":
    half = config.task.vocab_size // 2
    references[label] = [float(theory.hebbian_recall(
        jax.random.key(0), width, k, half - 1, half, num_prompts=2048)["acc"])
        for k, _, _ in rows]
    print("  random-embedding memory:", [round(a, 3) for a in references[label]])
title = (f"MQAR, V = {config.task.vocab_size}, T = {config.task.seq_len}, "
         f"{config.train.num_steps} steps, lr {config.train.lr:g}, seed {config.seed}")
fig = figures.accuracy_vs_pairs(curves, title=title, references=references)
path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                    "docs", "figures", "tasks_mqar_pairs.png")
fig.savefig(path, dpi=120, bbox_inches="tight")
print(path)
