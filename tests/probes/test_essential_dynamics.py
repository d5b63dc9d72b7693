"""Essential dynamics on synthetic trajectories whose principal components are exact.

On the periodic grid t = 0..T-1 the curves cos(2 pi t / T), sin(2 pi t / T) and
cos(4 pi t / T) are centred and mutually orthogonal with squared norm T / 2, so
outputs mean + sum_k c_k curve_k(t) v_k (v_k orthonormal) have exactly these PCs,
explained-variance ratios c_k^2 / sum c^2, and known score extrema.
"""

import jax
import jax.numpy as jnp
import numpy as np

from icl.probes import essential_dynamics as ed

T = 40


def _trajectory():
  t = np.arange(T)
  curves = np.stack([np.cos(2 * np.pi * t / T), np.sin(2 * np.pi * t / T),
                     np.cos(4 * np.pi * t / T)], axis=1)
  coefs = np.array([5.0, 2.0, 1.0])
  rng = np.random.default_rng(0)
  v = np.linalg.qr(rng.normal(size=(20, 3)))[0].T  # [3, s] orthonormal rows
  mean = rng.normal(size=20)
  return mean + (curves * coefs) @ v, curves * coefs, v, 100 * t


def test_pca_recovers_the_components_and_ratios_exactly():
  features, scores, v, _ = _trajectory()
  out = ed.pca(features, 3)
  np.testing.assert_allclose(out["explained_variance_ratio"], np.array([25, 4, 1]) / 30,
                             atol=1e-12)
  for k in range(3):
    sign = np.sign(out["components"][k] @ v[k])
    np.testing.assert_allclose(sign * out["components"][k], v[k], atol=1e-10)
    np.testing.assert_allclose(sign * out["scores"][:, k], scores[:, k], atol=1e-10)


def test_extrema_and_boundaries_are_the_curves_turning_points():
  features, _, _, steps = _trajectory()
  out = ed.analyse(features, steps, 3)
  by_pc = {j: {(e["step"], e["kind"]) for e in out["extrema"] if e["pc"] == j}
           for j in (1, 2, 3)}
  s1 = np.sign(out["scores"][0][0])  # PC1 = +-5 cos: its interior extremum is at T/2
  assert by_pc[1] == {(2000, "min" if s1 > 0 else "max")}
  assert {s for s, _ in by_pc[2]} == {1000, 3000}
  assert {s for s, _ in by_pc[3]} == {1000, 2000, 3000}
  # PC1: T/2; PC2: T/4 and 3T/4; PC3 adds nothing new (its ends are excluded).
  assert out["candidate_boundaries"] == [1000, 2000, 3000]


def test_smoothing_keeps_constants_and_widens_with_time():
  x = np.ones((T, 2))
  np.testing.assert_allclose(ed.smooth(x, 0.5, 5.0), x)
  spike = np.zeros((T, 1))
  spike[[2, T - 3]] = 1.0
  out = ed.smooth(spike, 0.0, 4.0)
  assert out[2, 0] > 0.9 and out[T - 3, 0] < 0.2  # early kept sharp, late blurred


def test_outputs_over_time_flattens_every_checkpoint():
  stacked = {"w": jnp.arange(6.0).reshape(3, 2)}
  apply = lambda p, x: {"a": x @ p["w"], "b": p["w"][0]}
  out = ed.outputs_over_time(apply, stacked, jnp.ones((4, 2)))
  assert out.shape == (3, 5)
  np.testing.assert_allclose(out[1], [5, 5, 5, 5, 2])
  assert jax.tree.leaves(out)
