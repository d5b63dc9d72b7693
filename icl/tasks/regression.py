"""In-context linear regression, generated on device.

See docs/regression.md, "Data" (He, Pan, Chen, Yang, *In-Context Linear
Regression Demystified*, ICML 2025).

Per prompt: beta ~ N(prior_mean * 1, prior_scale^2 I_d / d), covariates
x_1..x_L, x_q ~ N(0, Sigma), y_l = beta^T x_l + eps_l, eps ~ N(0, noise_var); the
query target is noisy too. Sigma is the identity (``covariance="isotropic"``), the
Toeplitz matrix Sigma_ij = rho^|i-j| (``covariance="toeplitz"``), diag(linspace(
cov_min, cov_max, d)) (``"diag_linspace"``) or diag(cov_diag) (``"diag"``, a comma
list). ``covariates="uniform"`` draws x ~ U(-r/2, r/2)^d (r = input_range, isotropic
only; von Oswald et al. 2023's data code). docs/linear_gd.md, "Data", covers the
options added for linear attention vs gradient descent: the prior mean (mu =
prior_mean * 1, tau^2 = prior_scale^2 / d), the diagonal and uniform covariates, the
noiseless mode (noise_var = 0) and covariate shift at evaluation (`sample`'s
``covariate_scale``: Sigma_test = c Sigma).

A batch is a dict of arrays:
  x:    [B, L, d]  context covariates
  y:    [B, L]     context labels
  xq:   [B, d]     query covariate
  yq:   [B]        query target
  beta: [B, d]     the prompt's task vector (for theory and probes; never a model input)

The superposition variant (``SuperpositionTask``) has several tasks sharing x; then
y is [B, L, N] and yq is [B, N].
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from icl.tasks import base

Batch = base.Batch


def _sqrt(v):
  """math.sqrt for a config number; jnp.sqrt for a traced one (config.sweep)."""
  return math.sqrt(v) if isinstance(v, (int, float)) else jnp.sqrt(v)


def _compact_threefry():
  """Draw a batch's random bits with threefry's original (non-partitionable) layout.

  The default partitionable layout hashes one counter per 32-bit word and XORs the
  hash's two output words; the original layout keeps both, so it needs half the
  threefry rounds per normal, and its XLA program compiles several times faster
  (the sampler is most of a training step's cost and of its compile time on CPU;
  benchmarks/RESULTS.md). Same generator, same distribution, another bit stream:
  a batch is still a pure function of its key. Applied at trace time, local to the
  sampler, so no global JAX setting changes.
  """
  return jax.threefry_partitionable(False)


COVARIANCES = ("isotropic", "toeplitz", "diag_linspace", "diag")  # task.covariance
COVARIATES = ("gaussian", "uniform")  # task.covariates


def toeplitz_covariance(dim: int, rho: float) -> np.ndarray:
  """Sigma_ij = rho^|i-j| (an AR(1) covariance)."""
  idx = np.arange(dim)
  return rho ** np.abs(idx[:, None] - idx[None, :])


@dataclasses.dataclass(frozen=True)
class RegressionTask(base.Task):
  """Noisy in-context linear regression with a fresh task vector per prompt."""

  dim: int = 5
  context_len: int = 40
  noise_var: float = 0.1
  prior_scale: float = 1.0
  prior_mean: float = 0.0
  covariance: str = "isotropic"
  rho: float = 0.5
  cov_min: float = 0.2  # 'diag_linspace': the smallest variance
  cov_max: float = 2.0  # 'diag_linspace': the largest variance
  cov_diag: str = ""  # 'diag': the d variances, comma-separated ('0.25,0.5,1,1.5,2')
  covariates: str = "gaussian"  # 'gaussian' or 'uniform' (U(-r/2, r/2), isotropic)
  input_range: float = 1.0  # r of the uniform covariates

  num_outputs = 1  # label slots per token
  varies_context_len = True

  @property
  def theory_noise_var(self) -> float:
    return self.noise_var

  def trivial_loss(self) -> float:
    """E[yq^2]: the risk of predicting 0 (beta's prior mean and scale, Sigma, noise)."""
    cov = self.covariance_matrix()
    d = self.dim
    return float(self.prior_scale ** 2 / d * np.trace(cov)
                 + self.prior_mean ** 2 * cov.sum() + self.noise_var)

  @property
  def token_dim(self) -> int:
    """Width of a token z = (x, y)."""
    return self.dim + self.num_outputs

  def covariance_matrix(self) -> np.ndarray:
    """Sigma = E[x x^T] (the uniform law's r^2/12 included)."""
    if self.covariates == "uniform":
      if self.covariance != "isotropic":
        raise ValueError("task.covariates='uniform' needs task.covariance='isotropic'")
      return self.input_range ** 2 / 12 * np.eye(self.dim)
    if self.covariates != "gaussian":
      raise ValueError(f"task.covariates={self.covariates!r}; allowed: "
                       + ", ".join(map(repr, COVARIATES)))
    if self.covariance == "isotropic":
      return np.eye(self.dim)
    if self.covariance == "toeplitz":
      return toeplitz_covariance(self.dim, self.rho)
    if self.covariance == "diag_linspace":
      return np.diag(np.linspace(self.cov_min, self.cov_max, self.dim))
    if self.covariance == "diag":
      diag = [float(v) for v in self.cov_diag.split(",") if v.strip()]
      if len(diag) != self.dim or min(diag) <= 0:
        raise ValueError(f"task.cov_diag={self.cov_diag!r}: need {self.dim} positive "
                         "comma-separated variances")
      return np.diag(diag)
    raise ValueError(f"task.covariance={self.covariance!r}; allowed: "
                     + ", ".join(map(repr, COVARIANCES)))

  def sample(self, key: jax.Array, batch_size: int, *, step=None,
             context_len: int | None = None,
             covariate_scale: float | None = None) -> Batch:
    """Draws `batch_size` prompts of `context_len` (default: the task's) examples.

    `step` (the training step) is ignored: the distribution does not change.
    `covariate_scale` c draws every covariate (context and query) with covariance
    c * Sigma: the covariate shift of Zhang, Frei & Bartlett (docs/linear_gd.md).
    """
    del step
    with _compact_threefry():
      batch = self._sample(key, batch_size, context_len)
    if covariate_scale is None:
      return batch
    # y = beta^T x + eps: scaling x by sqrt(c) scales the clean part of y alike.
    r = _sqrt(covariate_scale)
    clean = jnp.einsum("bld,bd->bl", batch["x"], batch["beta"])
    clean_q = jnp.einsum("bd,bd->b", batch["xq"], batch["beta"])
    return {**batch, "x": r * batch["x"], "xq": r * batch["xq"],
            "y": batch["y"] + (r - 1) * clean, "yq": batch["yq"] + (r - 1) * clean_q}

  def _sample(self, key, batch_size, context_len):
    length = self.context_len if context_len is None else context_len
    d = self.dim
    # All the batch's standard normals in one draw, sliced into beta, the covariates
    # and the noise: one large kernel instead of a split and three draws (~1.7x
    # faster on CPU, where the sampler is most of a training step).
    sizes = (batch_size * d, batch_size * (length + 1) * d, batch_size * (length + 1))
    g_beta, g_x, g_eps = jnp.split(jax.random.normal(key, (sum(sizes),)),
                                   np.cumsum(sizes)[:-1])
    beta = (self.prior_mean
            + self.prior_scale / math.sqrt(d) * g_beta.reshape(batch_size, d))
    # Context and query covariates together: x_all[:, L] is the query.
    x_all = g_x.reshape(batch_size, length + 1, d)
    if self.covariates == "uniform":
      # Its own draw, so the Gaussian default keeps its bit stream.
      u = jax.random.uniform(jax.random.fold_in(key, 1), x_all.shape, x_all.dtype)
      x_all = self.input_range * (u - 0.5)
    elif self.covariance != "isotropic":
      chol = jnp.asarray(np.linalg.cholesky(self.covariance_matrix()), x_all.dtype)
      x_all = x_all @ chol.T
    noise = _sqrt(self.noise_var) * g_eps.reshape(batch_size, length + 1)
    y_all = jnp.einsum("bld,bd->bl", x_all, beta) + noise
    return {"x": x_all[:, :length], "y": y_all[:, :length],
            "xq": x_all[:, length], "yq": y_all[:, length], "beta": beta}

  def loss(self, pred: jax.Array, batch: Batch) -> jax.Array:
    """Mean squared error of the query prediction (no 1/2), as in the paper."""
    return jnp.mean(jnp.square(pred - batch["yq"]))

  def per_prompt_error(self, pred: jax.Array, batch: Batch) -> jax.Array:
    return jnp.square(pred - batch["yq"]).reshape(pred.shape[0], -1).mean(-1)


@dataclasses.dataclass(frozen=True)
class SuperpositionTask(base.Task):
  """Several regression tasks on overlapping coordinates of one shared x.

  See docs/regression.md, "Multi-task (superposition)". With the defaults, d = 6,
  y1 = beta1^T x[0:4], y2 = beta2^T x[2:6], beta_i ~ N(0, I_4), context noise std
  sqrt(noise_var * task_dim), noiseless query targets, tokens (x, y1, y2).
  """

  dim: int = 6
  context_len: int = 48
  noise_var: float = 0.1
  num_tasks: int = 2
  task_dim: int = 4
  task_stride: int = 2  # task i reads x[i*stride : i*stride + task_dim]

  covariance = "isotropic"
  varies_context_len = True

  @property
  def theory_noise_var(self) -> float:
    return self.noise_var

  def trivial_loss(self) -> float:
    """E[|yq|^2] / N: the risk of predicting 0 (noiseless query targets)."""
    return float(self.task_dim)

  @property
  def num_outputs(self) -> int:
    return self.num_tasks

  @property
  def token_dim(self) -> int:
    return self.dim + self.num_tasks

  def task_mask(self) -> np.ndarray:
    """[N, d] 0/1 mask of the coordinates each task reads."""
    mask = np.zeros((self.num_tasks, self.dim))
    for i in range(self.num_tasks):
      mask[i, i * self.task_stride: i * self.task_stride + self.task_dim] = 1.0
    return mask

  def sample(self, key: jax.Array, batch_size: int, *, step=None,
             context_len: int | None = None) -> Batch:
    del step
    with _compact_threefry():
      return self._sample(key, batch_size, context_len)

  def _sample(self, key, batch_size, context_len):
    length = self.context_len if context_len is None else context_len
    k_beta, k_x, k_eps = jax.random.split(key, 3)
    mask = jnp.asarray(self.task_mask())
    beta = jax.random.normal(k_beta, (batch_size, self.num_tasks, self.dim)) * mask
    x_all = jax.random.normal(k_x, (batch_size, length + 1, self.dim))
    clean = jnp.einsum("bld,bnd->bln", x_all, beta)
    noise_std = _sqrt(self.noise_var * self.task_dim)
    noise = noise_std * jax.random.normal(k_eps, (batch_size, length, self.num_tasks))
    return {"x": x_all[:, :length], "y": clean[:, :length] + noise,
            "xq": x_all[:, length], "yq": clean[:, length], "beta": beta}

  def loss(self, pred: jax.Array, batch: Batch) -> jax.Array:
    return jnp.mean(jnp.square(pred - batch["yq"]))

  def per_prompt_error(self, pred: jax.Array, batch: Batch) -> jax.Array:
    return jnp.square(pred - batch["yq"]).reshape(pred.shape[0], -1).mean(-1)
