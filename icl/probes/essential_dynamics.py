"""Essential dynamics: PCA of a model's outputs across checkpoints (docs/devinterp.md).

Hoogland et al. (2024), Section 3.2: fix a probe set of prompts; at checkpoint t flatten
the model's outputs on it into a_t [s]; stack A = [a_t] [T, s], centre over t and take
its principal components. The developmental trajectory is the curve of PC scores; the
local extrema of the score time series lie near the "forms" (times at which every PC
pair turns together), a cheap automated proxy for stage boundaries that the LLC's
critical points are compared against.

Pure functions of arrays: `outputs_over_time` takes any model's apply function and
stacked params; the rest reads only the [T, s] matrix.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

PyTree = Any


def outputs_over_time(apply: Callable[[PyTree, PyTree], Any], stacked_params: PyTree,
                      probe_batch: PyTree) -> jax.Array:
  """The flattened outputs on `probe_batch` at every checkpoint: [T, s] (leaves of
  `stacked_params` are [T, ...]; every output leaf is flattened and concatenated)."""
  def one(params):
    leaves = jax.tree.leaves(apply(params, probe_batch))
    return jnp.concatenate([jnp.ravel(x).astype(jnp.float32) for x in leaves])
  return jax.lax.map(one, stacked_params)  # one forward pass in memory at a time


def pca(features, num_components: int = 3) -> dict:
  """PCA of the rows of `features` [T, s] (centred over T), by SVD.

  Returns numpy arrays: mean [s], components [k, s] (orthonormal rows, each signed so
  that its largest-magnitude entry is positive: a deterministic orientation),
  scores [T, k] = (a_t - mean) . components, explained_variance_ratio [k] (of the
  total variance over all T - 1 possible components).
  """
  a = np.asarray(features, np.float64)
  mean = a.mean(axis=0)
  u, s, vt = np.linalg.svd(a - mean, full_matrices=False)
  k = min(num_components, len(s))
  vt = vt[:k]
  sign = np.sign(vt[np.arange(k), np.argmax(np.abs(vt), axis=1)])
  sign[sign == 0] = 1
  vt = vt * sign[:, None]
  total = float(np.sum(s ** 2))
  ratio = s[:k] ** 2 / total if total > 0 else np.zeros(k)
  return {"mean": mean, "components": vt, "scores": (a - mean) @ vt.T,
          "explained_variance_ratio": ratio}


def smooth(scores, sigma_start: float = 0.0, sigma_end: float = 0.0):
  """Gaussian smoothing along time whose width (in checkpoint indices) grows linearly
  from `sigma_start` to `sigma_end`, as Hoogland et al. do so that early, fast
  development is blurred less. scores [T, k] -> [T, k]; sigma 0 leaves a row as is."""
  x = np.asarray(scores, np.float64)
  t = x.shape[0]
  sigmas = np.linspace(sigma_start, sigma_end, t)
  out = np.empty_like(x)
  idx = np.arange(t)
  for i, sigma in enumerate(sigmas):
    if sigma <= 0:
      out[i] = x[i]
      continue
    w = np.exp(-0.5 * ((idx - i) / sigma) ** 2)
    out[i] = w @ x / w.sum()
  return out


def local_extrema(series) -> list[tuple[int, str]]:
  """Interior strict local extrema of a 1-D series: [(index, 'max' | 'min')]."""
  x = np.asarray(series)
  found = []
  for i in range(1, len(x) - 1):
    if x[i] > x[i - 1] and x[i] > x[i + 1]:
      found.append((i, "max"))
    elif x[i] < x[i - 1] and x[i] < x[i + 1]:
      found.append((i, "min"))
  return found


def candidate_boundaries(scores, steps) -> list[int]:
  """Steps of each PC score's interior global maximum and minimum (an extremum at
  the first or last checkpoint is no boundary), sorted and unique.
  scores [T, k], steps [T]."""
  x = np.asarray(scores)
  t = x.shape[0]
  found = set()
  for j in range(x.shape[1]):
    for i in (int(np.argmax(x[:, j])), int(np.argmin(x[:, j]))):
      if 0 < i < t - 1:
        found.add(int(steps[i]))
  return sorted(found)


def analyse(features, steps, num_components: int = 3, sigma_start: float = 0.0,
            sigma_end: float = 0.0) -> dict:
  """The JSON-able essential-dynamics summary of outputs `features` [T, s] at
  checkpoint `steps` [T]: explained-variance ratios, raw and smoothed PC scores,
  every local extremum of the smoothed scores, and the candidate boundaries."""
  steps = [int(s) for s in steps]
  result = pca(features, num_components)
  smoothed = smooth(result["scores"], sigma_start, sigma_end)
  extrema = [{"pc": j + 1, "step": steps[i], "kind": kind, "score": float(smoothed[i, j])}
             for j in range(smoothed.shape[1]) for i, kind in local_extrema(smoothed[:, j])]
  return {"steps": steps, "num_features": int(np.asarray(features).shape[1]),
          "explained_variance_ratio": [float(r) for r in result["explained_variance_ratio"]],
          "scores": np.asarray(result["scores"]).tolist(),
          "smoothed_scores": smoothed.tolist(),
          "smoothing_sigma": [sigma_start, sigma_end],
          "extrema": extrema,
          "candidate_boundaries": candidate_boundaries(smoothed, steps)}
