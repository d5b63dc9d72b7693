"""Probes recorded inside the jitted training loop, and their host-side writing.

`compute(exp, params)` runs every probe of one seed as a pure function (weight
probes + activation probes on a fixed probe batch), so it can sit inside
`lax.scan`: `scan_with_probes` runs an outer scan over probe intervals of
`probe_every` steps with the plain step scan inside, and returns the probes stacked
[num_steps // probe_every]. With `snapshots`, the merged W_KQ / W_OV of every step
come back too, and the host keeps the log-spaced snapshot steps.

`Recorder` is the trainer's side: which chunks carry probes or snapshots, the
metrics.jsonl lines (`probe/<name>/<layer>h<head>` keys, seed axis through
`hparams.summarize`: per sweep point when there is a `config.sweep`) and `<workdir>/snapshots/step_XXXXXXX.npz`.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Callable

import jax
import numpy as np

from icl import workdir as workdir_lib
from icl.probes import attention, weights

PROBE_KEY = 0x9B0BE  # fold_in salt of the probe batch's key
SNAPSHOTS = "snapshots"
PyTree = Any


def probe_batch(exp):
  """The fixed probe batch: `probes.num_prompts` prompts from a key that depends
  only on config.seed (the same batch at every probe step and for every seed)."""
  key = jax.random.fold_in(jax.random.key(exp.config.seed), PROBE_KEY)
  return exp.task.sample(key, exp.config.probes.num_prompts)


def compute(exp, params: PyTree) -> dict[str, jax.Array]:
  """Every probe of one seed's params: a flat dict name -> [H] or [] (pure)."""
  out = weights.weight_probes(exp.config.model.name, params, exp.task,
                              getattr(exp.config.model, "num_heads", None))
  batch = probe_batch(exp)
  _, w, lg, v = exp.apply(params, batch, *attention.CAPTURES)
  groups = exp.task.query_groups(batch) if hasattr(exp.task, "query_groups") else None
  # A task with one fixed hidden subset of token positions (sparse parity) gets the
  # attention mass on it; `subset` of such a task is a [k] array of positions.
  subset = getattr(exp.task, "subset", None)
  out.update(attention.attention_probes(w, lg, v, query_groups=groups, subset=subset))
  return out


def snapshot_weights(exp, params: PyTree) -> dict[str, jax.Array]:
  """{'W_KQ': [H, D, D], 'W_OV': [H, D]} (one layer) or {'l0/W_KQ': ...} (several)."""
  layers = weights.merged_weights(exp.config.model.name, params,
                                  getattr(exp.config.model, "num_heads", None))
  prefix = (lambda name: "") if len(layers) == 1 else (lambda name: name + "/")
  out = {}
  for name, (w_kq, w_ov) in layers.items():
    out[prefix(name) + "W_KQ"], out[prefix(name) + "W_OV"] = w_kq, w_ov
  return out


def scan_with_probes(exp, body: Callable, state: PyTree, num_steps: int,
                     probe_every: int, snapshots: bool) -> tuple[PyTree, dict]:
  """`body` (the step scan's body) scanned `num_steps` times, with `compute` after
  every `probe_every` steps (0: none; must divide num_steps) and, with `snapshots`,
  the merged weights after every step. Metrics: per-step values [num_steps],
  "probes" [num_steps // probe_every], "snapshot" [num_steps]."""
  def step(s, x):
    s, m = body(s, x)
    if snapshots:
      m = {**m, "snapshot": snapshot_weights(exp, s["params"])}
    return s, m

  if not probe_every:
    return jax.lax.scan(step, state, None, length=num_steps)

  def interval(s, _):
    s, m = jax.lax.scan(step, s, None, length=probe_every)
    return s, (m, compute(exp, s["params"]))

  state, (metrics, probes) = jax.lax.scan(interval, state, None,
                                          length=num_steps // probe_every)
  metrics = jax.tree.map(lambda a: a.reshape((num_steps,) + a.shape[2:]), metrics)
  return state, {**metrics, "probes": probes}


@functools.partial(jax.jit, static_argnums=(0,))
def compute_states(exp, params: PyTree) -> dict[str, jax.Array]:
  """`compute` for every seed: params [S, ...] -> probes [S, ...]."""
  return jax.vmap(lambda p: compute(exp, p))(params)


# --- host side ---------------------------------------------------------------------


def flat_keys(probes: dict[str, Any]) -> dict[str, np.ndarray]:
  """{'omega': [S, H], 'sink/l0': [S, H], 'eta': [S]} ->
  {'probe/omega/h0': [S], 'probe/sink/l0h0': [S], 'probe/eta': [S]}."""
  out = {}
  for name, value in probes.items():
    value = np.asarray(value, dtype=np.float64)
    if value.ndim == 1:
      out[f"probe/{name}"] = value
      continue
    base, _, layer = name.partition("/")
    for h in range(value.shape[-1]):
      out[f"probe/{base}/{layer}h{h}"] = value[..., h]
  return out


def summarize(probes: dict[str, Any], config=None) -> dict[str, Any]:
  """Model-axis probes [M, ...] -> metrics.jsonl fields (mean, '/se', '/seeds').

  With a `config` that has a `config.sweep`, each point also gets its own
  '<key>/<label>' entries over its seeds (`hparams.summarize`), so the points of an
  in-program sweep are not averaged together.
  """
  from icl.train import hparams  # icl.train imports this module
  record = {}
  for key, values in flat_keys(probes).items():
    if config is None:
      record.update(workdir_lib.summarize_seeds(key, values))
    else:
      record.update(hparams.summarize(config, key, values))
  return record


def snapshot_steps(num_steps: int, count: int) -> list[int]:
  """About `count` log-spaced steps in [0, num_steps], always with 0 and num_steps."""
  if count <= 0:
    return []
  if count == 1:
    return [num_steps]
  steps = np.round(np.logspace(0, np.log10(num_steps), count - 1)).astype(int)
  return sorted({0, num_steps, *steps.tolist()})


def probe_interval(step: int, n: int, every: int) -> int:
  """The in-scan probe interval of the chunk of `n` steps after `step` such that the
  probes fall on the multiples of `every` (0: no probe step in the chunk)."""
  if every <= 0:
    return 0
  if every <= n and step % every == 0 and n % every == 0:
    return every
  if n <= every and (step + n) % every == 0:
    return n
  return 0


def write_snapshot(workdir: str, step: int, arrays: dict[str, np.ndarray]) -> str:
  directory = os.path.join(workdir, SNAPSHOTS)
  os.makedirs(directory, exist_ok=True)
  path = os.path.join(directory, f"step_{step:07d}.npz")
  np.savez(path, step=np.int64(step), **{k: np.asarray(v) for k, v in arrays.items()})
  return path


def read_snapshots(workdir: str) -> list[tuple[int, dict[str, np.ndarray]]]:
  """[(step, {'W_KQ': [S, H, D, D], 'W_OV': [S, H, D]}), ...] sorted by step."""
  directory = os.path.join(workdir, SNAPSHOTS)
  if not os.path.isdir(directory):
    return []
  out = []
  for name in sorted(os.listdir(directory)):
    if name.startswith("step_") and name.endswith(".npz"):
      with np.load(os.path.join(directory, name)) as f:
        arrays = {k: f[k] for k in f.files if k != "step"}
      out.append((int(name[5:-4]), arrays))
  return out


class Recorder:
  """The trainer's probe bookkeeping (config.probes): per chunk, the keyword
  arguments of `core.train_chunk`, then the probe lines and snapshot files."""

  def __init__(self, exp, config, workdir: str):
    self.exp, self.workdir, self.config = exp, workdir, config
    probes = config.get("probes")
    self.every = probes.every if probes is not None else 0
    count = probes.snapshots if probes is not None and self.every else 0
    self.snapshots = set(snapshot_steps(config.train.num_steps, count))
    self.num_steps = config.train.num_steps

  def chunk_args(self, step: int, n: int) -> dict:
    """{'probe_every': ..., 'snapshots': ...} for the chunk of n steps after `step`."""
    return {"probe_every": probe_interval(step, n, self.every),
            "snapshots": any(step < s <= step + n for s in self.snapshots)}

  def start(self, step: int, states: PyTree) -> None:
    """Snapshot of the initial weights (step 0)."""
    if step == 0 and 0 in self.snapshots:
      arrays = jax.vmap(lambda p: snapshot_weights(self.exp, p))(states["params"])
      write_snapshot(self.workdir, 0, jax.tree.map(np.asarray, arrays))

  def records(self, step: int, n: int, args: dict, metrics: dict,
              states: PyTree) -> list[dict]:
    """Probe lines of the chunk (step, step + n] (each {'step': s, 'probe/...': ...})
    and its snapshot files. A run's last step always gets probes."""
    end, out = step + n, []
    every = args["probe_every"]
    if every:
      probes = jax.tree.map(np.asarray, metrics["probes"])  # [S, K, ...]
      for k in range(n // every):
        out.append({"step": step + (k + 1) * every,
                    **summarize({name: v[:, k] for name, v in probes.items()},
                                self.config)})
    if end == self.num_steps and self.every and not (out and out[-1]["step"] == end):
      probes = jax.tree.map(np.asarray, compute_states(self.exp, states["params"]))
      out.append({"step": end, **summarize(probes, self.config)})
    if args["snapshots"]:
      snap = jax.tree.map(np.asarray, metrics["snapshot"])  # [S, n, ...]
      for s in sorted(x for x in self.snapshots if step < x <= end):
        write_snapshot(self.workdir, s, {k: v[:, s - step - 1] for k, v in snap.items()})
    return out
