"""icl/models/base.py: the registry entry and the matmul-only spectral norm."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from icl.models import MODELS, base


@pytest.mark.parametrize("shape", [(8, 6, 6), (4, 64, 64), (3, 16, 64), (2, 65, 65)])
def test_spectral_norm_equals_the_svd(shape):
  w = np.random.default_rng(sum(shape)).normal(size=shape).astype(np.float32)
  got = np.asarray(jax.jit(base.spectral_norm)(jnp.asarray(w)))
  want = np.linalg.svd(w.astype(np.float64), compute_uv=False)[..., 0]
  np.testing.assert_allclose(got, want, rtol=2e-6)


def test_spectral_norm_of_degenerate_matrices():
  """Equal top singular values (3 I) and rank one (u vᵀ: |u| |v|)."""
  eye = 3 * np.eye(5, dtype=np.float32)[None]
  u, v = np.arange(1.0, 5.0), np.ones(4)
  rank_one = np.outer(u, v)[None].astype(np.float32)
  np.testing.assert_allclose(np.asarray(base.spectral_norm(jnp.asarray(eye))), [3.0],
                             rtol=1e-6)
  np.testing.assert_allclose(np.asarray(base.spectral_norm(jnp.asarray(rank_one))),
                             [np.linalg.norm(u) * np.linalg.norm(v)], rtol=1e-6)


def test_entries_know_their_fields_and_defaults():
  entry = MODELS["one_layer"]
  assert entry.fields == ("num_heads", "attention", "linear_norm", "init_scale")
  assert entry.defaults == {"num_heads": 2, "attention": "softmax",
                            "linear_norm": "train_len", "init_scale": 1.0}
  cfg = entry.make_config({"name": "one_layer", "num_heads": 4})
  assert cfg.num_heads == 4 and cfg.attention == "softmax"
  with pytest.raises(ValueError, match="init_scale"):
    entry.validate({"init_scale": -1.0})
  with pytest.raises(ValueError, match="attention"):
    entry.make_config({"attention": "cosine"})
