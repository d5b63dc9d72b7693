"""The shared machinery of Garg et al.'s function-class tasks, one prompt per function.

See docs/deep_icl.md (Garg, Tsipras, Liang & Valiant 2022, Sec. 2-3 and App. A;
Raventós, Paul, Chen & Ganguli 2023, Sec. 2). A subclass draws a function's
parameters (`draw_params`) and evaluates it (`apply`); this base adds:

- the prompt: x_0..x_{K-1} ~ N(0, I_d), y_i = f(x_i) (+ label noise), read by the
  model at every position k from the k examples before it;
- Garg's curriculum, a pure function of the step (so a resumed run is exact):
  d_cur(t) = min(dims_start + dims_inc floor(t / interval), dim), coordinates >= d_cur
  zeroed; k_cur(t) likewise, positions >= k_cur carry no loss (same loss and gradients
  as the shorter prompt under causal attention);
- a finite task pool (Raventós): `pool_size` = M > 0 functions drawn once from the
  prior with `pool_seed`, each prompt picking one uniformly; ``pool=False`` samples
  fresh functions (the evaluation on unseen tasks);
- Garg's out-of-distribution prompts as the ``ood`` option of `sample` (`OOD`).

A batch:
  x:    [B, K, d]  inputs (the last position's x is the query of the longest prefix)
  y:    [B, K]     labels, y_k the target of the prediction at position k
  mask: [B, K]     1 where a position counts in the loss (the curriculum's k_cur)
  params: the functions' parameters (for baselines and tests; never a model input)

Loss: the raw mean squared error over batch and counted positions (Garg's training
loss); `metrics` adds the per-position error normalised by E[y^2] under the prior
(`normaliser`: d, s, or 1), the curves the papers plot.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp

from icl.tasks import base

Batch = base.Batch

# Garg et al.'s out-of-distribution prompts (App. B.2), the `ood` option of `sample`;
# the ones that change the query replace the last position's x only (read the last
# position, at several lengths: eval.context_lens).
OOD = ("none", "scale_x", "scale_w", "orthant", "subspace", "query_example",
       "orthogonal_query", "skewed")


@dataclasses.dataclass(frozen=True)
class FunctionClassTask(base.Task):
  """Base of the function-class tasks (fields shared by every class)."""

  dim: int = 20  # d: input dimension (the curriculum's end)
  context_len: int = 41  # K: examples per prompt (the curriculum's end)
  noise_var: float = 0.0  # label noise variance sigma^2 (context and targets)
  curriculum: bool = False  # Garg's curriculum over dimensions and points
  dims_start: int = 5  # curriculum: d_cur at step 0
  dims_inc: int = 1  # curriculum: d_cur increment per interval
  points_start: int = 11  # curriculum: k_cur at step 0
  points_inc: int = 2  # curriculum: k_cur increment per interval
  interval: int = 2000  # curriculum: steps per increment
  pool_size: int = 0  # M: finite pool of functions (Raventós); 0 = a fresh one per prompt
  pool_seed: int = 0  # seed of the pool's one draw
  ood_scale: float = 2.0  # factor of the 'scale_x' / 'scale_w' prompts

  varies_context_len = True

  # --- subclass hooks --------------------------------------------------------------

  def draw_params(self, key: jax.Array, n: int, dims: jax.Array) -> Any:
    """Parameters of n functions drawn from the prior; `dims` the valid coordinates."""
    raise NotImplementedError

  def apply(self, params: Any, x: jax.Array) -> jax.Array:
    """f(x): params of B functions, x [B, K, d] -> [B, K]."""
    raise NotImplementedError

  @property
  def normaliser(self) -> float:
    """E[f(x)^2] under the prior: the per-position error is divided by it."""
    return float(self.dim)

  def trivial_loss(self) -> float:
    return self.normaliser + self.noise_var

  # --- curriculum ------------------------------------------------------------------

  def schedule(self, step) -> tuple[Any, Any]:
    """(d_cur, k_cur) at 0-indexed `step` (Garg's update runs after each step, so
    the batch at step t sees floor(t / interval) increments); full size at step None."""
    if not self.curriculum or step is None:
      return self.dim, self.context_len
    n = step // self.interval
    return (jnp.minimum(self.dims_start + self.dims_inc * n, self.dim),
            jnp.minimum(self.points_start + self.points_inc * n, self.context_len))

  # --- sampling --------------------------------------------------------------------

  def pool(self) -> Any:
    """The M pool functions: one draw from fold_in(key(pool_seed), 0) (step keys never
    collide with it: the pool is not drawn from a step's key)."""
    key = jax.random.fold_in(jax.random.key(self.pool_seed), 0)
    return self.draw_params(key, self.pool_size, self.dim)

  def sample(self, key: jax.Array, batch_size: int, *, step=None,
             context_len: int | None = None, full_size: bool = False,
             pool: bool = True, ood: str = "none") -> Batch:
    """`batch_size` prompts of `context_len` (default: the task's) examples.

    Options: full_size ignores the curriculum (Garg evaluate at the full size);
    pool=False draws fresh functions instead of pool ones; ood one of `OOD`.
    """
    if ood not in OOD:
      raise ValueError(f"ood={ood!r}; allowed: {', '.join(OOD)}")
    length = self.context_len if context_len is None else context_len
    d = self.dim
    d_cur, k_cur = self.schedule(None if full_size else step)
    k_f, k_x, k_eps, k_pick, k_ood = jax.random.split(key, 5)
    x = jax.random.normal(k_x, (batch_size, length, d))
    x = self._ood_inputs(x, ood, k_ood)
    coords = jnp.arange(d) < d_cur
    x = x * coords
    if self.pool_size and pool:
      idx = jax.random.randint(k_pick, (batch_size,), 0, self.pool_size)
      params = jax.tree.map(lambda p: p[idx], self.pool())
    else:
      params = self.draw_params(k_f, batch_size, d_cur)
    if ood == "scale_w":
      params = self.scale_params(params, self.ood_scale)
    y = self.apply(params, x)
    if not (isinstance(self.noise_var, (int, float)) and self.noise_var == 0):
      y = y + jnp.sqrt(self.noise_var) * jax.random.normal(k_eps, y.shape)
    mask = jnp.broadcast_to((jnp.arange(length) < k_cur).astype(x.dtype), y.shape)
    return {"x": x, "y": y, "mask": mask, "params": params}

  def scale_params(self, params: Any, factor: float) -> Any:
    """Parameters of factor * f (linear classes: factor * w)."""
    raise ValueError(f"{type(self).__name__} has no 'scale_w' prompts")

  def _ood_inputs(self, x: jax.Array, ood: str, key: jax.Array) -> jax.Array:
    """x [B, K, d] of the `ood` prompt (Garg et al. 2022, App. B.2)."""
    b, length, d = x.shape
    if ood == "scale_x":
      return self.ood_scale * x
    if ood == "orthant":  # examples share one random sign pattern; the query is i.i.d.
      signs = jnp.sign(jax.random.normal(key, (b, 1, d)))
      last = jnp.arange(length)[None, :, None] == length - 1
      return jnp.where(last, x, jnp.abs(x) * signs)
    if ood == "subspace":  # a random d/2-dim subspace, rescaled to E|x|^2 = d
      basis, _ = jnp.linalg.qr(jax.random.normal(key, (b, d, d)))
      proj = basis[..., : d // 2]
      return jnp.einsum("bkd,bde,bfe->bkf", x, proj, proj) * math.sqrt(d / (d // 2))
    if ood == "skewed":  # random eigenbasis, eigenvalues ~ 1/i^2, E|x|^2 = d
      eig = 1.0 / jnp.arange(1, d + 1) ** 2
      eig = eig * d / jnp.sum(eig)
      basis, _ = jnp.linalg.qr(jax.random.normal(key, (b, d, d)))
      return jnp.einsum("bkd,bde,e,bfe->bkf", x, basis, jnp.sqrt(eig), basis)
    if ood == "query_example":  # the query is a copy of a random earlier example
      j = jax.random.randint(key, (b,), 0, max(length - 1, 1))
      return x.at[:, -1].set(x[jnp.arange(b), j])
    if ood == "orthogonal_query":  # the query in the complement of the examples' span
      ctx = x[:, :-1]
      coef = jnp.linalg.pinv(jnp.swapaxes(ctx, 1, 2)) @ x[:, -1, :, None]  # [B, K-1, 1]
      along = jnp.einsum("bkd,bk->bd", ctx, coef[..., 0])
      return x.at[:, -1].set(x[:, -1] - along)
    return x

  # --- loss and metrics ------------------------------------------------------------

  def loss(self, pred: jax.Array, batch: Batch) -> jax.Array:
    """Raw mean squared error over the batch and the counted positions (Garg)."""
    mask = batch["mask"]
    return jnp.sum(mask * jnp.square(pred - batch["y"])) / jnp.maximum(jnp.sum(mask), 1.0)

  def per_prompt_error(self, pred: jax.Array, batch: Batch) -> jax.Array:
    mask = batch["mask"]
    err = jnp.sum(mask * jnp.square(pred - batch["y"]), -1)
    return err / jnp.maximum(jnp.mean(jnp.sum(mask, -1)), 1.0)

  def metrics(self, pred: jax.Array, batch: Batch) -> dict[str, jax.Array]:
    """err_k: the per-position squared error / `normaliser`, k = 0..K-1."""
    per_pos = jnp.mean(jnp.square(pred - batch["y"]), axis=0) / self.normaliser
    return {f"err_{k}": per_pos[k] for k in range(per_pos.shape[0])}

  @property
  def eval_sample_kwargs(self) -> dict[str, Any]:
    return {"full_size": True}
