"""Statistics of the regression generators against their exact values.

Prompts are independent; labels within one prompt share beta, so every moment is
estimated from per-prompt averages and its tolerance is 5 standard errors of those.
"""

import jax
import numpy as np
import pytest

from icl.tasks.regression import RegressionTask, SuperpositionTask, toeplitz_covariance

NUM = 20_000


def draw(task, seed, num=NUM):
  """A jitted draw (eager dispatch of every op is slow), as numpy arrays."""
  sample = jax.jit(task.sample, static_argnums=1)
  return jax.tree.map(np.asarray, sample(jax.random.key(seed), num))


def mean_and_se(per_prompt: np.ndarray) -> tuple[float, float]:
  per_prompt = np.asarray(per_prompt, np.float64)
  return per_prompt.mean(), per_prompt.std(ddof=1) / np.sqrt(per_prompt.shape[0])


def assert_close_mc(per_prompt, exact, z=5.0):
  mean, se = mean_and_se(per_prompt)
  assert abs(mean - exact) < z * se, f"{mean} vs {exact} (se {se})"


@pytest.mark.parametrize("dim,length,noise_var,scale", [(5, 40, 0.1, 1.0), (20, 10, 3.0, 2.0)])
def test_label_moments(dim, length, noise_var, scale):
  task = RegressionTask(dim=dim, context_len=length, noise_var=noise_var, prior_scale=scale)
  b = draw(task, 0)
  assert b["x"].shape == (NUM, length, dim) and b["y"].shape == (NUM, length)
  assert b["xq"].shape == (NUM, dim) and b["yq"].shape == (NUM,)
  # E[y] = 0 and Var(y) = E|beta|^2 + sigma^2 = scale^2 + sigma^2, context and query.
  assert_close_mc(b["y"].mean(1), 0.0)
  assert_close_mc((b["y"] ** 2).mean(1), scale ** 2 + noise_var)
  assert_close_mc(b["yq"] ** 2, scale ** 2 + noise_var)
  # Noise: y - beta^T x has variance sigma^2 and is independent of x.
  resid = b["y"] - np.einsum("bld,bd->bl", b["x"], b["beta"])
  assert_close_mc((resid ** 2).mean(1), noise_var)
  assert_close_mc((resid * b["x"][..., 0]).mean(1), 0.0)
  # Prior: E[beta beta^T] = scale^2 I / d.
  assert_close_mc(b["beta"][:, 0] ** 2, scale ** 2 / dim)
  assert_close_mc(b["beta"][:, 0] * b["beta"][:, -1], 0.0 if dim > 1 else scale ** 2)


@pytest.mark.parametrize("rho", [0.5, -0.3])
def test_toeplitz_covariance(rho):
  task = RegressionTask(dim=4, context_len=8, covariance="toeplitz", rho=rho)
  x = draw(task, 1)["x"].astype(np.float64)
  sigma = toeplitz_covariance(4, rho)
  for i, j in [(0, 0), (0, 1), (0, 2), (1, 3), (3, 3)]:
    assert_close_mc((x[..., i] * x[..., j]).mean(1), sigma[i, j])
  assert_close_mc(x.mean(axis=(1, 2)), 0.0)


def test_isotropic_covariance_and_query_independence():
  task = RegressionTask()
  b = draw(task, 2)
  assert_close_mc((b["x"][..., 0] * b["x"][..., 1]).mean(1), 0.0)
  assert_close_mc((b["x"][..., 2] ** 2).mean(1), 1.0)
  assert_close_mc(b["xq"][:, 0] * b["x"][:, 0, 0], 0.0)
  assert_close_mc(b["xq"][:, 3] ** 2, 1.0)


def test_prior_mean():
  task = RegressionTask(prior_mean=0.7)
  beta = draw(task, 3)["beta"]
  assert_close_mc(beta[:, 1], 0.7)


def test_same_key_same_batch_and_other_lengths():
  task = RegressionTask()
  a = task.sample(jax.random.key(5), 8)
  b = task.sample(jax.random.key(5), 8)
  c = task.sample(jax.random.key(6), 8)
  for k in a:
    np.testing.assert_array_equal(a[k], b[k])
  assert not np.allclose(a["x"], c["x"])
  assert task.sample(jax.random.key(5), 8, context_len=100)["x"].shape == (8, 100, 5)
  jitted = jax.jit(lambda k: task.sample(k, 8))(jax.random.key(5))
  np.testing.assert_allclose(jitted["y"], a["y"], rtol=1e-6, atol=1e-6)


def test_superposition_tasks():
  task = SuperpositionTask()
  b = draw(task, 7)
  assert b["y"].shape == (NUM, 48, 2) and b["yq"].shape == (NUM, 2)
  # Task 0 reads x[0:4], task 1 reads x[2:6]; query targets are noiseless.
  mask = task.task_mask()
  np.testing.assert_array_equal(mask, [[1, 1, 1, 1, 0, 0], [0, 0, 1, 1, 1, 1]])
  np.testing.assert_array_equal(b["beta"] * (1 - mask), 0.0)
  np.testing.assert_allclose(b["yq"], np.einsum("bd,bnd->bn", b["xq"], b["beta"]),
                             atol=1e-5)
  resid = b["y"] - np.einsum("bld,bnd->bln", b["x"], b["beta"])
  assert_close_mc((resid[..., 0] ** 2).mean(1), 0.1 * 4)
  assert_close_mc((resid[..., 1] ** 2).mean(1), 0.1 * 4)
  assert_close_mc(b["beta"][:, 0, 0] ** 2, 1.0)  # beta_i ~ N(0, I_4)
  assert_close_mc(b["yq"][:, 0] * b["yq"][:, 1], 0.0)


# --- options for linear attention vs gradient descent (docs/linear_gd.md, "Data") ---


def test_diag_covariances():
  lin = RegressionTask(dim=4, context_len=8, covariance="diag_linspace", cov_min=0.5,
                       cov_max=2.0)
  np.testing.assert_allclose(np.diag(lin.covariance_matrix()), [0.5, 1.0, 1.5, 2.0])
  given = RegressionTask(dim=3, context_len=8, covariance="diag", cov_diag="0.25,1,4")
  b = draw(given, 8)
  for i, v in enumerate((0.25, 1.0, 4.0)):
    assert_close_mc((b["x"][..., i].astype(np.float64) ** 2).mean(1), v)
    assert_close_mc(b["xq"][:, i].astype(np.float64) ** 2, v)
  assert_close_mc((b["x"][..., 0] * b["x"][..., 2]).mean(1), 0.0)
  with pytest.raises(ValueError, match="cov_diag"):
    RegressionTask(dim=2, covariance="diag", cov_diag="1").covariance_matrix()


def test_uniform_covariates_and_noiseless_labels():
  """von Oswald et al.'s data: x ~ U(-r/2, r/2), w ~ N(0, I) (prior_scale = sqrt d)."""
  task = RegressionTask(dim=4, context_len=8, covariates="uniform", input_range=1.0,
                        prior_scale=2.0, noise_var=0.0)
  b = draw(task, 9)
  assert np.abs(b["x"]).max() <= 0.5 and np.abs(b["xq"]).max() <= 0.5
  assert_close_mc((b["x"][..., 1].astype(np.float64) ** 2).mean(1), 1 / 12)
  assert_close_mc((b["x"][..., 1].astype(np.float64) ** 4).mean(1), 1 / 80)  # kurtosis 9/5
  np.testing.assert_allclose(b["y"], np.einsum("bld,bd->bl", b["x"], b["beta"]), atol=1e-5)
  assert_close_mc(b["beta"][:, 0] ** 2, 1.0)
  np.testing.assert_allclose(task.covariance_matrix(), np.eye(4) / 12)
  assert task.trivial_loss() == pytest.approx(4 / 12)


def test_prior_mean_vector_and_trivial_loss():
  task = RegressionTask(dim=10, context_len=10, prior_mean=1 / np.sqrt(10), noise_var=0.1)
  b = draw(task, 10)
  assert_close_mc(b["beta"].sum(1), np.sqrt(10))  # mu = prior_mean * 1, |mu| = 1
  assert_close_mc(b["yq"].astype(np.float64) ** 2, task.trivial_loss())
  assert task.trivial_loss() == pytest.approx(1 + 1 + 0.1)


def test_covariate_shift_scales_covariates_and_clean_labels():
  task = RegressionTask(dim=3, context_len=6, noise_var=0.1)
  base = task.sample(jax.random.key(4), 5000)
  shifted = task.sample(jax.random.key(4), 5000, covariate_scale=2.0)
  np.testing.assert_allclose(shifted["x"], np.sqrt(2) * base["x"], rtol=1e-6)
  np.testing.assert_array_equal(shifted["beta"], base["beta"])
  resid = shifted["y"] - np.einsum("bld,bd->bl", shifted["x"], shifted["beta"])
  np.testing.assert_allclose(resid, base["y"] - np.einsum("bld,bd->bl", base["x"], base["beta"]),
                             atol=1e-5)
  assert_close_mc(np.asarray(shifted["yq"], np.float64) ** 2, 2 * 1.0 + 0.1)
