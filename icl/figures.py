"""Figures as pure functions: data in, matplotlib Figure out (no I/O).

`python -m icl.plot --workdir=DIR` (icl/plot.py) reads a work dir and saves these.
See docs/regression.md, "Figures a reproduction should produce" 1-4, plus the
attention probes of docs/tasks.md. With several seeds a curve is the mean
with a +- one standard error band (the metrics' '/se' fields).
"""

from __future__ import annotations

import re
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

CMAP = "RdBu_r"  # blue (negative) - white (0) - red (positive)


# --- metrics.jsonl -> curves -----------------------------------------------------------


def series(records: Sequence[dict], key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(steps, mean, se) of metric `key` over the lines that have it (se 0 for 1 seed)."""
  rows = [r for r in records if key in r and r[key] is not None]
  steps = np.array([r["step"] for r in rows], dtype=float)
  mean = np.array([r[key] for r in rows], dtype=float)
  se = np.array([r.get(key + "/se", 0.0) for r in rows], dtype=float)
  return steps, mean, se


def probe_keys(records: Sequence[dict], name: str) -> list[str]:
  """Metric keys 'probe/<name>/<...>' (no '/se', '/seeds'), in head order."""
  pattern = re.compile(rf"^probe/{re.escape(name)}/(l\d+)?h\d+$")
  keys = {k for r in records for k in r if pattern.match(k)}
  return sorted(keys, key=lambda k: [int(n) for n in re.findall(r"\d+", k.split("/")[-1])])


def _curve(ax, steps, mean, se, label, **kw):
  (line,) = ax.plot(steps, mean, label=label, **kw)
  if np.any(se > 0):
    ax.fill_between(steps, mean - se, mean + se, color=line.get_color(), alpha=0.25,
                    linewidth=0)
  return line


def _log_steps(ax, steps):
  if len(steps) and np.min(steps) > 0:
    ax.set_xscale("log")
  ax.set_xlabel("training step")
  ax.grid(alpha=0.3)


# --- weights -------------------------------------------------------------------------


def _heatmap(ax, matrix, limit, d, title, split_rows=True, split_cols=True):
  image = ax.imshow(matrix, cmap=CMAP, vmin=-limit, vmax=limit, interpolation="nearest")
  # Thin lines between the x block and the y row / column of the token (x, y).
  if split_rows and matrix.shape[0] > d:
    ax.axhline(d - 0.5, color="k", linewidth=0.6)
  if split_cols and matrix.shape[1] > d:
    ax.axvline(d - 0.5, color="k", linewidth=0.6)
  ax.set_title(title, fontsize=9)
  ax.set_xticks([])
  ax.set_yticks([])
  return image


def _limit(a) -> float:
  m = float(np.max(np.abs(a))) if np.size(a) else 0.0
  return m if m > 0 else 1.0


def weight_heatmaps(w_kq: np.ndarray, w_ov: np.ndarray, d: int,
                    title: str = "") -> Figure:
  """Per-head W_KQ [H, D, D] (top row) and W_OV [H, D] (bottom row, as a row vector),
  one symmetric colour scale per row."""
  w_kq = np.asarray(w_kq)
  w_ov = np.asarray(w_ov).reshape(w_kq.shape[0], w_kq.shape[1], -1)
  num_heads = w_kq.shape[0]
  fig, axes = plt.subplots(2, num_heads, figsize=(2.0 * num_heads + 1.2, 3.6),
                           squeeze=False, gridspec_kw={"height_ratios": [4, 1]})
  kq_lim, ov_lim = _limit(w_kq), _limit(w_ov)
  for h in range(num_heads):
    im_kq = _heatmap(axes[0, h], w_kq[h], kq_lim, d, f"head {h}: $W_{{KQ}}$")
    im_ov = _heatmap(axes[1, h], w_ov[h].T, ov_lim, d, f"head {h}: $W_{{OV}}^T$",
                     split_rows=False)
  fig.colorbar(im_kq, ax=list(axes[0]), shrink=0.9, pad=0.03)
  fig.colorbar(im_ov, ax=list(axes[1]), shrink=0.9, pad=0.03, aspect=6)
  fig.text(0.02, 0.005, "$W_{KQ}$ rows: key coord., columns: query coord.; "
           "lines separate $x_{1..d}$ from $y$", fontsize=7)
  if title:
    fig.suptitle(title, fontsize=10)
  return fig


def weight_evolution(snapshots: Sequence[tuple[int, np.ndarray, np.ndarray]], d: int,
                     max_columns: int = 8, title: str = "") -> Figure:
  """A grid of W_KQ per head (rows) and W_OV of all heads (last row) at up to
  `max_columns` snapshot steps (columns), one colour scale per row over all steps."""
  if len(snapshots) > max_columns:
    idx = np.unique(np.round(np.linspace(0, len(snapshots) - 1, max_columns)).astype(int))
    snapshots = [snapshots[i] for i in idx]
  num_heads = np.asarray(snapshots[0][1]).shape[0]
  cols = len(snapshots)
  fig, axes = plt.subplots(num_heads + 1, cols, figsize=(1.45 * cols + 1.3,
                                                         1.45 * (num_heads + 1) + 0.6),
                           squeeze=False)
  kq_lim = [_limit([np.asarray(s[1])[h] for s in snapshots]) for h in range(num_heads)]
  ov_lim = _limit([np.asarray(s[2]) for s in snapshots])
  for c, (step, w_kq, w_ov) in enumerate(snapshots):
    w_kq, w_ov = np.asarray(w_kq), np.asarray(w_ov).reshape(num_heads, -1)
    for h in range(num_heads):
      im = _heatmap(axes[h, c], w_kq[h], kq_lim[h], d, f"step {step}" if h == 0 else "")
      if c == cols - 1:
        fig.colorbar(im, ax=list(axes[h]), shrink=0.9, pad=0.01)
    im = _heatmap(axes[num_heads, c], w_ov, ov_lim, d, "", split_rows=False)
    if c == cols - 1:
      fig.colorbar(im, ax=list(axes[num_heads]), shrink=0.9, pad=0.01)
  for h in range(num_heads):
    axes[h, 0].set_ylabel(f"$W_{{KQ}}$ head {h}", fontsize=8)
  axes[num_heads, 0].set_ylabel("$W_{OV}$ (rows: heads)", fontsize=8)
  fig.suptitle(title or "weights over training", fontsize=10)
  return fig


# --- probes over training -------------------------------------------------------------


def omega_mu(records: Sequence[dict]) -> Figure:
  """omega_h and mu_h per head across training, with sum_h mu_h and eta."""
  fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
  for ax, name, label in ((axes[0], "omega", r"$\omega_h$ = mean diag $A_h$"), (axes[1], "mu", r"$\mu_h = W_{OV}[h, -1]$")):
    for key in probe_keys(records, name):
      steps, mean, se = series(records, key)
      _curve(ax, steps, mean, se, f"head {key.rsplit('h', 1)[-1]}")
    ax.axhline(0, color="k", linewidth=0.5)
    ax.set_title(label)
    _log_steps(ax, steps)
  steps, mean, se = series(records, "probe/mu_sum")
  _curve(axes[1], steps, mean, se, r"$\sum_h \mu_h$", color="k", linestyle="--")
  for ax in axes[:2]:
    ax.legend(fontsize=7, ncol=2)
  steps, mean, se = series(records, "probe/eta")
  _curve(axes[2], steps, mean, se, r"$\eta = \sum_{h\ \rm active} \mu_h \omega_h$")
  axes[2].set_title(r"$\eta$ (one-step GD step size)")
  axes[2].legend(fontsize=7)
  _log_steps(axes[2], steps)
  fig.tight_layout()
  return fig


PATTERN_BARS = (("diag_ratio", r"$|\mathrm{diag}\,A_h|_2 / |A_h|_F$", False),
                ("last_ratio", r"$|v_h[-1]| / |v_h|_2$", False),
                ("homogeneity", r"Var(diag $A_h$) / mean$^2$", True))


def pattern_bars(record: dict, title: str = "") -> Figure:
  """Bars per head of the pattern probes in one metrics line (e.g. the last);
  dummy heads (diag ratio <= 0.7) are hatched."""
  fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
  dummies = {k.rsplit("h", 1)[-1]: record[k] > 0.5 for k in probe_keys([record], "dummy")}
  for ax, (name, label, log) in zip(axes, PATTERN_BARS):
    keys = probe_keys([record], name)
    heads = [k.rsplit("h", 1)[-1] for k in keys]
    values = [record[k] for k in keys]
    errors = [record.get(k + "/se", 0.0) for k in keys]
    bars = ax.bar(heads, values, yerr=errors if any(errors) else None, color="tab:blue")
    for bar, h in zip(bars, heads):
      if dummies.get(h):
        bar.set_hatch("//")
        bar.set_color("tab:gray")
    if name == "diag_ratio":
      ax.axhline(0.7, color="tab:red", linewidth=0.8, linestyle="--", label="dummy <= 0.7")
      ax.legend(fontsize=7, loc="lower right")
    if log:
      ax.set_yscale("log")
    ax.set_title(label, fontsize=10)
    ax.set_xlabel("head")
  fig.suptitle(title or f"pattern probes at step {record.get('step')}", fontsize=10)
  fig.tight_layout()
  return fig


def loss_vs_context(eval_result: dict, train_len: int | None = None) -> Figure:
  """Test MSE against prompt length (eval.json), with eval.json['theory'][name][L]
  curves when present."""
  fig, ax = plt.subplots(figsize=(5.5, 3.8))
  lengths = sorted(eval_result["context_len"], key=int)
  x = np.array([int(n) for n in lengths])
  y = np.array([eval_result["context_len"][n] for n in lengths])
  se = np.array([eval_result.get("context_len_se", {}).get(n, 0.0) for n in lengths])
  ax.errorbar(x, y, yerr=se, marker="o", color="k", capsize=2, label="trained model",
              zorder=3)
  for name, curve in sorted(eval_result.get("theory", {}).items()):
    ls = sorted(curve, key=int)
    ax.plot([int(n) for n in ls], [curve[n] for n in ls], marker=".", label=name)
  if train_len:
    ax.axvline(train_len, color="gray", linestyle=":", linewidth=0.8,
               label=f"training length {train_len}")
  ax.set_xlabel("prompt length L")
  ax.set_ylabel("test MSE")
  ax.set_title(f"loss vs prompt length (step {eval_result.get('step')})", fontsize=10)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=7)
  fig.tight_layout()
  return fig


ATTENTION_PANELS = (("attn_entropy", "attention entropy (nats)"),
                    ("sink", "sink score (attention on key 0)"),
                    ("max_logit", "max attention logit"),
                    ("spectral_norm", r"spectral norm of $W_{KQ}$"))


def attention_curves(records: Sequence[dict]) -> Figure:
  """Entropy, sink score, max logit and |W_KQ|_2 per (layer, head) across training."""
  fig, axes = plt.subplots(1, len(ATTENTION_PANELS), figsize=(14, 3.4))
  for ax, (name, label) in zip(axes, ATTENTION_PANELS):
    steps = np.array([])
    for key in probe_keys(records, name):
      steps, mean, se = series(records, key)
      _curve(ax, steps, mean, se, key.split("/")[-1])
    ax.set_title(label, fontsize=10)
    _log_steps(ax, steps)
    ax.legend(fontsize=7, ncol=2)
  steps, mean, _ = series(records, "probe/sink_metric")
  if len(steps):
    axes[1].set_title(f"sink score; Sink metric {mean[-1]:.0f}% at the end", fontsize=10)
  fig.tight_layout()
  return fig


def sink_groups(records: Sequence[dict]) -> list[str]:
  """Query groups with sink probes ('probe/sink_logit_<group>/...'), e.g. trigger."""
  pattern = re.compile(r"^probe/sink_logit_(\w+)/l\d+h\d+$")
  return sorted({m.group(1) for r in records for k in r if (m := pattern.match(k))})


def sink_dynamics(records: Sequence[dict]) -> Figure:
  """Guo et al. (2024)'s mutual reinforcement, per query group and (layer, head):
  attention mass on the sink, the sink's logit above the other keys', and the value
  norm at the sink against the other positions', across training."""
  fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
  steps = np.array([])
  for group in sink_groups(records):
    for ax, name in zip(axes[:2], (f"sink_{group}", f"sink_logit_{group}")):
      for key in probe_keys(records, name):
        steps, mean, se = series(records, key)
        _curve(ax, steps, mean, se, f"{group} {key.split('/')[-1]}")
  for name, style in (("value_norm_sink", "-"), ("value_norm_rest", "--")):
    for key in probe_keys(records, name):
      steps, mean, se = series(records, key)
      label = ("sink" if name.endswith("sink") else "other keys") + " " + key.split("/")[-1]
      _curve(axes[2], steps, mean, se, label, linestyle=style)
  titles = ("attention on the sink (key 0)", "sink logit above the other keys'",
            "value norm |W_V h|")
  for ax, title in zip(axes, titles):
    ax.set_title(title, fontsize=10)
    _log_steps(ax, steps)
    ax.legend(fontsize=7)
  fig.tight_layout()
  return fig


def accuracy_vs_pairs(curves: dict, d_k: int | None = None, title: str = "",
                      references: dict | None = None) -> Figure:
  """MQAR query accuracy against the number of pairs K; curves = {label: (K, acc, se)}.
  The dashed 1/K is guessing among the context's K values (no key-value binding);
  ``references = {label: acc per K}`` draws a dashed curve in that label's colour (e.g.
  theory.hebbian_recall); ``d_k`` marks one state size."""
  fig, ax = plt.subplots(figsize=(8.5, 3.8))
  for label, (pairs, acc, se) in curves.items():
    line = ax.errorbar(pairs, acc, yerr=se, marker="o", capsize=2, label=label)
    if references and label in references:
      ax.plot(pairs, references[label], "--", color=line[0].get_color(), linewidth=1,
              alpha=0.7)
  ks = np.array(sorted({k for pairs, _, _ in curves.values() for k in pairs}), float)
  ax.plot(ks, 1.0 / ks, "k:", linewidth=0.8, label="1/K (a context value at random)")
  if references:
    ax.plot([], [], "k--", linewidth=1, alpha=0.7,
            label="memory Σ v kᵀ, random embeddings, same d_k")
  if d_k:
    ax.axvline(d_k, color="gray", linestyle=":", linewidth=0.8,
               label=f"$d_k$ = {d_k} (linear state $d_k \\times d_v$)")
  ax.set_xscale("log", base=2)
  ax.set_ylim(-0.02, 1.02)
  ax.set_xlabel("key-value pairs K")
  ax.set_ylabel("query accuracy")
  ax.set_title(title, fontsize=9)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
  fig.tight_layout()
  return fig


# --- sweep directories (icl/sweep/report.py) ----------------------------------------


def _value(v) -> float | None:
  try:
    v = float(v)
  except (TypeError, ValueError):
    return None
  return v if np.isfinite(v) else None


def metrics_vs_axis(rows: Sequence[dict], axis: str, others: Sequence[str],
                    metrics: Sequence[str], labels: dict | None = None,
                    title: str = "") -> Figure:
  """One panel per metric: its value in `rows` (summary.csv rows) against grid field
  `axis`, one line per combination of the `others` fields' values, error bars from
  the row's '<metric>/se' (several seeds). Numeric axes are drawn to scale (log base
  2 when positive and spanning a factor >= 8), other values as categories."""
  labels = dict(labels or {})
  xs = list(dict.fromkeys(row[axis] for row in rows))
  numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs)
  position = ({x: float(x) for x in xs} if numeric
              else {x: float(i) for i, x in enumerate(xs)})
  groups: dict[tuple, list[dict]] = {}
  for row in rows:
    groups.setdefault(tuple(row.get(o) for o in others), []).append(row)
  ncols = min(len(metrics), 3)
  nrows = -(-len(metrics) // ncols)
  fig, axes = plt.subplots(nrows, ncols, figsize=(4.4 * ncols, 3.3 * nrows),
                           squeeze=False)
  for ax, metric in zip(axes.flat, metrics):
    for key, group in groups.items():
      points = sorted((position[r[axis]], _value(r.get(metric)),
                       _value(r.get(f"{metric}/se")) or 0.0) for r in group
                      if _value(r.get(metric)) is not None)
      if not points:
        continue
      x, y, se = (np.array(c) for c in zip(*points))
      label = ", ".join(f"{labels.get(o, o)}={v}" for o, v in zip(others, key) if v != "")
      ax.errorbar(x, y, yerr=se if se.any() else None, marker="o", capsize=2,
                  label=label or None)
    if numeric and min(position.values()) > 0 and (
        max(position.values()) >= 8 * min(position.values())):
      ax.set_xscale("log", base=2)
    ax.set_xticks(sorted(position.values()), [str(x) for x in
                                              sorted(xs, key=lambda x: position[x])])
    ax.minorticks_off()
    ax.set_xlabel(labels.get(axis, axis))
    ax.set_title(metric, fontsize=10)
    ax.grid(alpha=0.3)
  if axes.flat[0].get_legend_handles_labels()[1]:
    axes.flat[0].legend(fontsize=7)
  for ax in list(axes.flat)[len(metrics):]:
    ax.set_visible(False)
  if title:
    fig.suptitle(title, fontsize=10)
  fig.tight_layout()
  return fig


# --- icl.devinterp: llc.jsonl and essential_dynamics.json --------------------------------


def devinterp(llc: Sequence[dict], records: Sequence[dict], ed: dict | None) -> Figure:
  """The LLC over training beside the loss, with the essential-dynamics candidate
  boundaries as vertical lines, and the PC-score trajectories (docs/devinterp.md).

  llc: llc.jsonl records (may be empty); records: metrics.jsonl lines;
  ed: essential_dynamics.json or None."""
  panels = 1 + (ed is not None) * 2
  fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 3.8), squeeze=False)
  axes = axes[0]
  ax = axes[0]
  steps, loss, se = series(records, "train_loss")
  boundaries = ed["candidate_boundaries"] if ed else []
  if len(steps):
    _curve(ax, steps, loss, se, "train loss", color="C0")
    ax.set_ylabel("train loss", color="C0")
  if llc:
    twin = ax.twinx()
    s = np.array([r["step"] for r in llc], dtype=float)
    m = np.array([r["llc"] for r in llc])
    sd = np.array([r["llc_std"] for r in llc])
    twin.errorbar(s, m, yerr=sd, color="C3", marker="o", ms=3, lw=1.2, capsize=2,
                  label=r"$\hat\lambda$")
    twin.set_ylabel(r"$\hat\lambda$ (LLC)", color="C3")
    r0 = llc[0]
    seed = f"seed {r0['seed_index']}, " if "seed_index" in r0 else ""
    ax.set_title(rf"LLC ({seed}$n\beta$={r0['nbeta']:g}, $\gamma$={r0['gamma']:g}, "
                 rf"$\epsilon$={r0['epsilon']:g})")
  for b in boundaries:
    ax.axvline(b, color="0.5", ls="--", lw=0.8)
  all_steps = np.concatenate([steps, [r["step"] for r in llc]]) if llc else steps
  if len(all_steps):
    _log_steps(ax, all_steps)
  ax.set_xlabel("step")
  if ed is not None:
    ax = axes[1]
    scores = np.asarray(ed["smoothed_scores"])
    ed_steps = np.asarray(ed["steps"], dtype=float)
    for j, ratio in enumerate(ed["explained_variance_ratio"]):
      ax.plot(ed_steps, scores[:, j], marker=".", label=f"PC{j + 1} ({ratio:.2f})")
    for b in boundaries:
      ax.axvline(b, color="0.5", ls="--", lw=0.8)
    _log_steps(ax, ed_steps)
    ax.set_xlabel("step")
    ax.set_title("essential dynamics: PC scores")
    ax.legend(fontsize=8)
    ax = axes[2]
    if scores.shape[1] >= 2:
      ax.plot(scores[:, 0], scores[:, 1], color="0.6", lw=1)
      sc = ax.scatter(scores[:, 0], scores[:, 1], c=np.log10(np.maximum(ed_steps, 1)),
                      cmap="viridis", s=14, zorder=3)
      fig.colorbar(sc, ax=ax, label="log10 step")
    ax.set_xlabel("PC1")
    ax.set_ylabel("PC2")
    ax.set_title("developmental trajectory")
  fig.tight_layout()
  return fig


# --- function classes and task diversity (docs/deep_icl.md) ------------------------------

CURVE_STYLES = {"model": dict(color="k", marker="o", zorder=4),
                "least_squares": dict(color="tab:blue", linestyle="--"),
                "ridge": dict(color="tab:cyan", linestyle="--"),
                "averaging": dict(color="tab:orange", linestyle=":"),
                "3-nn": dict(color="tab:green", linestyle=":"),
                "lasso": dict(color="tab:red", linestyle="--"),
                "sparse_bayes": dict(color="tab:purple", linestyle="-."),
                "dmmse": dict(color="tab:brown", linestyle="-.")}


def error_vs_examples(curves: dict, title: str = "", ylim: float = 1.6) -> Figure:
  """Garg et al.'s Fig. 2: the per-position error (/ E[y^2]) against the number of
  in-context examples, the model (mean over seeds, +- se band) and each baseline;
  `curves` is eval.json['curves'] (icl.evaluate.curves): one panel per task set
  (fresh tasks, and pool tasks when the run has a pool)."""
  sets = [s for s in ("fresh", "pool") if s in curves]
  fig, axes = plt.subplots(1, len(sets), figsize=(5.2 * len(sets), 3.8), squeeze=False)
  for ax, name in zip(axes.flat, sets):
    for label, c in curves[name].items():
      if label.startswith("dist/"):
        continue
      err, se = np.asarray(c["err"]), np.asarray(c["se"])
      _curve(ax, np.arange(len(err)), err, se, label,
             **CURVE_STYLES.get(label, dict(linestyle=":")))
    ax.axhline(1.0, color="gray", linewidth=0.8, linestyle=":")
    ax.set_ylim(0, ylim)
    ax.set_xlabel("in-context examples k")
    ax.set_ylabel("squared error / E[y²]")
    ax.set_title(f"{name} tasks" + (f" (M = {curves.get('pool_size')})"
                                    if name == "pool" else ""), fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
  if title:
    fig.suptitle(title, fontsize=10)
  fig.tight_layout()
  return fig


def task_diversity(rows: Sequence[dict], title: str = "") -> Figure:
  """Raventós et al.'s Fig. 2 in two panels against the pool size M (log2; M = 0 is
  infinity, drawn right of the largest M): the loss (/ D) on pool and fresh tasks
  beside dMMSE's and ridge's, and the model's distance to dMMSE and to ridge on both
  task sets. `rows`: icl.evaluate.task_diversity rows (keys '<set>/<name>' with
  '/se')."""
  finite = sorted(r["M"] for r in rows if r["M"])
  top = (max(finite) if finite else 1) * 4
  pos = {r["M"]: (r["M"] if r["M"] else top) for r in rows}
  order = sorted(rows, key=lambda r: pos[r["M"]])
  x = np.array([pos[r["M"]] for r in order], float)
  fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.8))
  panels = ((axes[0], (("fresh/model", "model, fresh tasks", dict(color="k", marker="o")),
                       ("pool/model", "model, pool tasks", dict(color="k", marker="s",
                                                                linestyle="--")),
                       ("fresh/dmmse", "dMMSE, fresh", dict(color="tab:brown")),
                       ("pool/dmmse", "dMMSE, pool", dict(color="tab:brown",
                                                          linestyle="--")),
                       ("fresh/ridge", "ridge, fresh", dict(color="tab:cyan")),
                       ("pool/ridge", "ridge, pool", dict(color="tab:cyan",
                                                          linestyle="--"))),
             "loss / D"),
            (axes[1], (("fresh/dist/dmmse", "to dMMSE, fresh", dict(color="tab:brown",
                                                                     marker="o")),
                       ("pool/dist/dmmse", "to dMMSE, pool", dict(color="tab:brown",
                                                                  marker="s",
                                                                  linestyle="--")),
                       ("fresh/dist/ridge", "to ridge, fresh", dict(color="tab:cyan",
                                                                    marker="o")),
                       ("pool/dist/ridge", "to ridge, pool", dict(color="tab:cyan",
                                                                  marker="s",
                                                                  linestyle="--"))),
             "distance / D"))
  for ax, lines, ylabel in panels:
    for key, label, style in lines:
      pts = [(xi, _value(r.get(key)), _value(r.get(key + "/se")) or 0.0)
             for xi, r in zip(x, order) if _value(r.get(key)) is not None]
      if not pts:
        continue
      xs, ys, se = (np.array(c) for c in zip(*pts))
      ax.errorbar(xs, ys, yerr=se if se.any() else None, capsize=2, label=label, **style)
    ax.set_xscale("log", base=2)
    ax.set_xticks(x, [str(int(v)) if r["M"] else "∞" for v, r in zip(x, order)])
    ax.minorticks_off()
    ax.set_xlabel("pool size M")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
  if title:
    fig.suptitle(title, fontsize=10)
  fig.tight_layout()
  return fig
