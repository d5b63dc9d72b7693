"""Parity runs: the sparse-parity figure and step numbers, running-parity attention.

Not a figure notebook (no number prefix, so the notebook tests skip it); a script
that reads finished runs (docs/tasks.md, "Parity"):

  python notebooks/parity_analysis.py sparse  DIR [DIR ...]  # -> docs/figures/tasks_sparse_parity.png
  python notebooks/parity_analysis.py running DIR            # attention on the last N bits

sparse: per run and seed, from metrics.jsonl (needs probes and eval at a fine
cadence, e.g. `--config.probes.every=25 --config.train.log_every=25
--config.train.eval_every=25`) plus the probe at step 0 (computed from the initial
params; the trainer records no step-0 probe): the first step where
`probe/subset_attn` of some layer-0 head exceeds 2x (and, second rule, +0.1 over)
its step-0 value, and the first steps where the eval loss falls below 0.68 and 0.6
(ln 2 = 0.693) and eval accuracy exceeds 0.6 and 0.9. With train.num_seeds > 1
every seed gets its own column.

running: from the last checkpoint, on 256 fresh streams: accuracy on the parity of
the last N bits for every N = 1..max_n ('multi': head N; 'single' and 'fixed': the
one head, trained last on N = max_n) and, for every layer and head, the mean
attention (row-renormalised) of queries t >= max_n on the keys t-j for
j = 0..max_n+1 (offset 0 = the query's own bit; offsets 0..N-1 = the last N bits,
the parity's window); uniform_ref = the mean weight 1/(t+1) of uniform attention.
"""

import json
import os
import sys

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from icl import workdir as workdir_lib  # noqa: E402
from icl.models.intermediates import AttnWeights  # noqa: E402
from icl.probes import attention, recording  # noqa: E402
from icl.tasks.parity import _parity_of_last  # noqa: E402
from icl.train import checkpoint, core  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_config(workdir):
  """The run's config; a run from before model.init_std was split into
  embed_init_std / readout_init_std (same init) gets the new field names."""
  config = workdir_lib.read_config(workdir)
  if "init_std" in config.model:
    std = config.model.init_std
    del config.model["init_std"]
    config.model.embed_init_std = config.model.readout_init_std = std
  return config


def read_metrics(workdir):
  return [r for r in workdir_lib.read_metrics(workdir) if "step" in r]


def series(rows, key, seed=0):
  """(steps, values) of `key` for one seed ('<key>/seeds' when several seeds)."""
  pts = [(r["step"], r[key + "/seeds"][seed] if key + "/seeds" in r else r[key])
         for r in rows if key in r]
  return np.array([p[0] for p in pts]), np.array([p[1] for p in pts])


def first_step(steps, values, predicate):
  hit = [s for s, v in zip(steps, values) if predicate(v)]
  return int(hit[0]) if hit else None


def sparse(workdirs):
  columns = []  # (workdir, seed)
  for wd in workdirs:
    columns += [(wd, i) for i in range(load_config(wd).train.num_seeds)]
  fig, axes = plt.subplots(2, len(columns), figsize=(4.6 * len(columns), 6.4),
                           squeeze=False, sharex="col")
  for col, (wd, seed) in enumerate(columns):
    config = load_config(wd)
    exp = core.Experiment.from_config(config)
    init_keys, _ = core.seed_keys(config)
    init = jax.tree.map(lambda a: a[seed], core.init_states(exp, init_keys)["params"])
    p0 = {k: np.asarray(v) for k, v in recording.compute(exp.probe_context(), init).items()
          if k.startswith("subset_attn/")}
    rows = read_metrics(wd)
    n, k = config.task.num_bits, config.task.subset_size
    s_acc, acc = series(rows, "eval_acc", seed)
    s_loss, loss = series(rows, "eval_loss", seed)
    ax = axes[0, col]
    ax.plot(s_loss, loss, label="eval loss", color="C0")
    ax.axhline(np.log(2), color="C0", ls=":", lw=0.8)
    ax.set_ylim(-0.02, 0.8)
    ax2 = ax.twinx()
    ax2.plot(s_acc, acc, label="eval acc", color="C3")
    ax2.set_ylim(0.4, 1.02)
    if col == len(columns) - 1:
      ax2.set_ylabel("eval accuracy (chance 0.5)", color="C3")
    if col == 0:
      ax.set_ylabel("eval cross-entropy (ln 2 dotted)", color="C0")
    ax.set_title(f"n = {n}, k = {k}, S = {[int(j) for j in exp.task.subset]}, init seed "
                 f"{config.seed + seed}", fontsize=9)
    ax = axes[1, col]
    report = {"workdir": wd, "seed": config.seed + seed, "n": n, "k": k,
              "uniform": k / (n + 1),
              "loss_lt_0.68": first_step(s_loss, loss, lambda v: v < 0.68),
              "loss_lt_0.6": first_step(s_loss, loss, lambda v: v < 0.6),
              "acc_gt_0.6": first_step(s_acc, acc, lambda v: v > 0.6),
              "acc_gt_0.9": first_step(s_acc, acc, lambda v: v > 0.9)}
    for layer in range(config.model.num_layers):
      for h in range(config.model.num_heads):
        s, v = series(rows, f"probe/subset_attn/l{layer}h{h}", seed)
        v0 = float(p0[f"subset_attn/l{layer}"][h])
        s, v = np.concatenate([[0], s]), np.concatenate([[v0], v])
        ax.plot(s, v, label=f"layer {layer} head {h}", ls="-" if layer == 0 else "--")
        report[f"l{layer}h{h}"] = {
            "step0": round(v0, 3), "final": round(float(v[-1]), 3),
            "x2_step": first_step(s, v, lambda x, v0=v0: x > 2 * v0),
            "plus0.1_step": first_step(s, v, lambda x, v0=v0: x > v0 + 0.1)}
    ax.axhline(k / (n + 1), color="k", ls=":", lw=0.8, label="uniform k/(n+1)")
    for rule in ("x2_step", "plus0.1_step"):  # the earliest layer-0 head
      steps = [report[f"l0h{h}"][rule] for h in range(config.model.num_heads)]
      steps = [x for x in steps if x is not None]
      report[f"probe_{rule}"] = min(steps) if steps else None
    for a in axes[:, col]:
      if report["acc_gt_0.9"] is not None:
        a.axvline(report["acc_gt_0.9"], color="C3", lw=0.8, ls="--")
      if report["probe_x2_step"] is not None:
        a.axvline(report["probe_x2_step"], color="C2", lw=0.8, ls="--")
    if col == 0:
      ax.set_ylabel("attention of the query on S (subset_attn)")
    ax.set_xlabel("step (green: a layer-0 head > 2x its step-0 value;\nred: eval acc > 0.9)",
                  fontsize=8)
    ax.legend(fontsize=7)
    print(json.dumps(report))
  fig.tight_layout()
  path = os.path.join(ROOT, "docs", "figures", "tasks_sparse_parity.png")
  fig.savefig(path, dpi=110)
  print("wrote", path)


def running(workdir, num_streams=256):
  config = load_config(workdir)
  exp = core.Experiment.from_config(config)
  init_keys, _ = core.seed_keys(config)
  ckpt = checkpoint.Checkpointer(workdir)
  step, states = ckpt.restore(core.init_states(exp, init_keys))
  ckpt.close()
  params = jax.tree.map(lambda a: a[0], states["params"])
  task = exp.task
  batch = task.sample(jax.random.key(123), num_streams, step=10**9)  # N = max_n
  pred, captured = exp.apply(params, batch, AttnWeights)  # [B, T, 2] or [B, T, N, 2]
  out = {"workdir": workdir, "step": int(step), "curriculum": task.curriculum}
  max_n = task.max_n
  # Per-N accuracy on the same streams: 'multi' reads head N-1, 'single' its one head.
  for n in range(1, max_n + 1):
    target, valid = _parity_of_last(batch["tokens"], n)
    logits = pred[..., n - 1, :] if pred.ndim == 4 else pred
    hit = (jnp.argmax(logits, -1) == target).astype(jnp.float32)
    valid = jnp.broadcast_to(valid, hit.shape)  # [T] -> [B, T]
    out[f"acc_n{n}"] = float(jnp.sum(hit * valid) / jnp.sum(valid))
  t0 = max_n  # queries t >= max_n see at least max_n + 1 keys
  for name, w in attention.captured_layers(captured).items():
    a = attention.renormalise(w)  # [B, H, T, T]
    per_head = []
    for h in range(a.shape[1]):
      offs = []
      for j in range(max_n + 2):
        diag = jnp.diagonal(a[:, h], offset=-j, axis1=1, axis2=2)  # A[t, t-j], t >= j
        offs.append(round(float(jnp.mean(diag[:, t0 - j:])), 4))
      per_head.append(offs)
    out[f"attn_offsets/{name}"] = per_head
    out[f"uniform_ref/{name}"] = round(float(jnp.mean(1.0 / (jnp.arange(t0, a.shape[-1]) + 1))), 4)
  print(json.dumps(out))
  return out


if __name__ == "__main__":
  if sys.argv[1] == "sparse":
    sparse(sys.argv[2:])
  elif sys.argv[1] == "running":
    for wd in sys.argv[2:]:
      running(wd)
  else:
    raise SystemExit(__doc__)
