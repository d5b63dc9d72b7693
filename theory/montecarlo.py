"""Monte-Carlo risk of a predictor, with memory bounded by the batch size.

See docs/regression.md, "Theory" (every closed form is checked against
this estimator) and "Training" (compare risks only on >= 2e4 fresh prompts).
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

Array = jax.Array
Batch = dict[str, Array]


def mc_risk(predict_fn: Callable[[Batch], Any],
            sample_fn: Callable[[Array, int], Batch],
            key: Array, num_prompts: int, batch_size: int) -> tuple[Any, Any]:
  """Monte-Carlo estimate of E (yhat - yq)^2 and its standard error.

  Each prompt's squared error is one i.i.d. sample; the estimate is their mean and
  the standard error is std / sqrt(n). Batches are drawn from `fold_in(key, i)`
  inside `lax.map`, so memory is one batch. Sampling dominates the cost on CPU,
  so `predict_fn` may return a pytree of predictions (e.g. a dict of several
  predictors): all are scored on the same prompts in one pass. On CPU a key made
  with `jax.random.key(seed, impl="rbg")` compiles several times faster than the
  default threefry key (about 1 s instead of 5 s per call).

  Args:
    predict_fn: batch -> yhat [B], or a pytree of [B] arrays.
    sample_fn: (key, batch_size) -> batch dict with at least "yq": [B].
    key: PRNG key.
    num_prompts: total prompts; rounded up to a multiple of batch_size.
    batch_size: prompts per batch.
  Returns:
    (mean, stderr): scalars, or pytrees of scalars shaped like predict_fn's output.
  """
  num_batches = -(-num_prompts // batch_size)
  n = num_batches * batch_size

  def one_batch(i):
    batch = sample_fn(jax.random.fold_in(key, i), batch_size)
    errs = jax.tree.map(lambda p: jnp.square(p - batch["yq"]), predict_fn(batch))
    return (jax.tree.map(jnp.mean, errs),
            jax.tree.map(lambda e: jnp.mean(jnp.square(e)), errs))

  def mean_and_stderr(m1, m2):
    mean = jnp.mean(m1)
    var = jnp.maximum(jnp.mean(m2) - mean**2, 0.0) * n / (n - 1)
    return mean, jnp.sqrt(var / n)

  @jax.jit
  def run():
    m1, m2 = jax.lax.map(one_batch, jnp.arange(num_batches))
    mean = jax.tree.map(lambda a, b: mean_and_stderr(a, b)[0], m1, m2)
    stderr = jax.tree.map(lambda a, b: mean_and_stderr(a, b)[1], m1, m2)
    return mean, stderr

  return run()


def bayes_risk_mc(key: Array, dim: int, context_len: int, noise_var: float,
                  num_prompts: int, batch_size: int = 4096) -> tuple[Array, Array]:
  """Exact finite-L Bayes (ridge, lambda = d sigma^2) risk, Monte Carlo over X only.

  For beta ~ N(0, I/d), x ~ N(0, I), the posterior covariance of beta given (X, y)
  is sigma^2 (X^T X + d sigma^2 I)^{-1}, so the risk including the query noise is

    R_Bayes = sigma^2 + sigma^2 E_X tr (X^T X + d sigma^2 I)^{-1}.

  Averaging this conditional expectation (Rao-Blackwellisation over beta, eps,
  xq) has far smaller variance than `mc_risk` of the ridge predictor.

  Returns:
    (mean, stderr), scalars.
  """
  num_batches = -(-num_prompts // batch_size)
  eye = jnp.eye(dim)

  def one_batch(i):
    x = jax.random.normal(jax.random.fold_in(key, i), (batch_size, context_len, dim))
    gram = jnp.einsum("bld,ble->bde", x, x) + dim * noise_var * eye
    # tr G^{-1} = |C^{-1}|_F^2 for G = C C^T; batched inv is slow on CPU.
    chol_inv = jax.scipy.linalg.solve_triangular(
        jnp.linalg.cholesky(gram), jnp.broadcast_to(eye, gram.shape), lower=True)
    tr = jnp.sum(jnp.square(chol_inv), axis=(-2, -1))
    r = noise_var + noise_var * tr
    return jnp.mean(r), jnp.mean(jnp.square(r))

  @jax.jit
  def run():
    m1, m2 = jax.lax.map(one_batch, jnp.arange(num_batches))
    n = num_batches * batch_size
    mean = jnp.mean(m1)
    var = jnp.maximum(jnp.mean(m2) - mean**2, 0.0) * n / (n - 1)
    return mean, jnp.sqrt(var / n)

  return run()
