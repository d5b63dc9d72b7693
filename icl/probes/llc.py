"""The local learning coefficient (LLC) of a checkpoint, by SGLD (docs/devinterp.md).

Lau, Murfet et al. (2023), Eq. for the estimator, and Hoogland et al. (2024), Eqs. 5-6:

  lambda_hat(w*) = n beta (E_w[l(w)] - l(w*)),   p(w) ~ exp(-n beta l(w) - gamma/2 |w - w*|^2)

with l an average loss. The expectation is taken with unadjusted Langevin dynamics
(SGLD) started at w*, one step being (l_m: the mean loss on a minibatch)

  w <- w - (epsilon / 2) [n beta grad l_m(w) + gamma (w - w*)] + sqrt(epsilon) xi,  xi ~ N(0, I),

and the draw of a step is l_m at the pre-update w (devinterp's convention). A chain's
estimate is n beta (mean of its post-burn-in draws - l(w*)); the reported value is
the mean over chains and its spread their std.

Everything is a pure function of (loss_fn, params, key, data, config): `loss_fn(params,
batch) -> []` for any model of the registry; this module never sees the trainer.
Chains are `jax.vmap`ped (or `lax.map`ped: `LLCConfig.chain_batching`);
`estimate_over_time` batches over stacked checkpoints too, with
the same chain and batch keys at every checkpoint (common random numbers), so the
whole lambda_hat(t) curve is one compiled call and its wiggles are not sampling noise.

Two data modes (`Data`):
  fixed_data(dataset, batch_size)  n prompts; minibatches by index, l(w*) on all n;
                                   n beta defaults to n / log n (Watanabe's beta*)
  fresh_data(sample, reference)    a fresh batch per step (as in Hoogland et al.);
                                   n beta is a stated hyperparameter; l(w*) on the
                                   fixed `reference` batches
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

PyTree = Any
LossFn = Callable[[PyTree, PyTree], jax.Array]

# Warn when the stiffest direction's step-size inflation 1 / (1 - epsilon a / 4)
# exceeds 1.25, i.e. epsilon a_max > 0.8 (the limit is 4): estimates there are
# biased up by more than the chain spread in the calibration tests.
STABILITY_WARN = 0.8


@dataclasses.dataclass(frozen=True)
class LLCConfig:
  """SGLD hyperparameters; fixed across checkpoints so lambda_hat(t) is comparable."""

  epsilon: float = 1e-3  # step size (devinterp's lr; timaeus noise_scale)
  nbeta: float | None = None  # n beta; None: n / log n (fixed-data mode only)
  gamma: float = 1.0  # localization strength
  num_chains: int = 4  # independent chains from w*, vmapped
  num_burnin: int = 100  # steps whose draws are dropped
  num_draws: int = 200  # steps whose draws are averaged
  power_iters: int = 20  # Hessian power iterations for the step-size check
  # How chains, and checkpoints in `estimate_over_time`, share the one compiled
  # program: 'vmap' batches them (every matmul gains a batch axis: the choice for an
  # accelerator, or a model too small to fill a core), 'map' runs them one after
  # another inside it (`lax.map`: plain matmuls, which a CPU runs faster for a
  # transformer; benchmarks/RESULTS.md). The draws are the same either way.
  chain_batching: str = "vmap"
  checkpoint_batching: str = "vmap"

  def __post_init__(self):
    # epsilon, nbeta and gamma enter only as arithmetic, so a sweep may vmap over
    # them (traced values, checked by the caller); counts stay Python ints.
    if isinstance(self.epsilon, (int, float)) and not self.epsilon > 0:
      raise ValueError(f"llc epsilon must be > 0, got {self.epsilon}")
    if isinstance(self.gamma, (int, float)) and self.gamma < 0:
      raise ValueError(f"llc gamma must be >= 0, got {self.gamma}")
    if self.num_chains < 1 or self.num_draws < 1 or self.num_burnin < 0:
      raise ValueError("llc needs num_chains >= 1, num_draws >= 1, num_burnin >= 0")
    for name in ("chain_batching", "checkpoint_batching"):
      if getattr(self, name) not in BATCHING:
        raise ValueError(f"llc {name} must be one of {BATCHING}, got "
                         f"{getattr(self, name)!r}")


BATCHING = ("vmap", "map")


def _batched(fn: Callable, xs, how: str):
  """fn over the leading axis of `xs`: vmapped, or in sequence with lax.map."""
  return jax.vmap(fn)(xs) if how == "vmap" else jax.lax.map(fn, xs)


@dataclasses.dataclass(frozen=True)
class Data:
  """Where SGLD's minibatches and the reference loss l(w*) come from.

  draw(key) -> batch; reference: a pytree whose leaves have a leading [R] axis of
  batches (l(w*) is the mean of loss_fn over them); n: the dataset size (fixed mode)
  or None (fresh mode, where n beta must be given).
  """

  draw: Callable[[jax.Array], PyTree]
  reference: PyTree
  n: int | None = None

  def nbeta(self, config: LLCConfig) -> float:
    if config.nbeta is not None:
      return config.nbeta
    if self.n is None:
      raise ValueError("fresh-prompt LLC needs an explicit nbeta (no dataset size n "
                       "to take n / log n from)")
    return self.n / math.log(self.n)


def fixed_data(dataset: PyTree, batch_size: int | None = None) -> Data:
  """A fixed dataset of n prompts (leaves [n, ...]); minibatches of `batch_size` by
  index with replacement (None: the full batch, deterministic gradients)."""
  n = jax.tree.leaves(dataset)[0].shape[0]
  if batch_size is None or batch_size >= n:
    draw = lambda key: dataset
  else:
    def draw(key):
      idx = jax.random.randint(key, (batch_size,), 0, n)
      return jax.tree.map(lambda x: x[idx], dataset)
  return Data(draw=draw, reference=jax.tree.map(lambda x: x[None], dataset), n=n)


def fresh_data(sample: Callable[[jax.Array], PyTree], reference_key: jax.Array,
               num_reference: int) -> Data:
  """Fresh prompts every step from `sample(key) -> batch`; l(w*) on `num_reference`
  batches drawn from `reference_key` (the same batches at every checkpoint)."""
  reference = jax.vmap(sample)(jax.random.split(reference_key, num_reference))
  return Data(draw=sample, reference=reference, n=None)


def reference_loss(loss_fn: LossFn, params: PyTree, data: Data) -> jax.Array:
  """l(w*): the mean of loss_fn over the reference batches. []"""
  return jnp.mean(jax.lax.map(lambda b: loss_fn(params, b), data.reference))


def top_curvature(loss_fn: LossFn, params: PyTree, data: Data, key: jax.Array,
                  iters: int = 20) -> jax.Array:
  """The largest |Hessian eigenvalue| of l at params (power iteration on
  Hessian-vector products of the first reference batch). []"""
  w0, unravel = ravel_pytree(params)
  batch = jax.tree.map(lambda x: x[0], data.reference)
  f = lambda w: loss_fn(unravel(w), batch)
  hvp = lambda v: jax.jvp(jax.grad(f), (w0,), (v,))[1]
  v = jax.random.normal(key, w0.shape, w0.dtype)
  v = v / jnp.linalg.norm(v)
  def body(v, _):
    hv = hvp(v)
    return hv / (jnp.linalg.norm(hv) + 1e-30), None
  v, _ = jax.lax.scan(body, v, None, length=iters)
  return jnp.abs(jnp.vdot(v, hvp(v)))


def sgld_chain(loss_fn: LossFn, params: PyTree, key: jax.Array, data: Data,
               config: LLCConfig, nbeta: float) -> dict:
  """One chain from w* = params (the exact update in the module docstring).

  Returns {"loss": [T], "dist": [T] |w - w*| at the pre-update point, "grad_norm": [T]}
  with T = num_burnin + num_draws.
  """
  w_star, unravel = ravel_pytree(params)
  eps, gamma = config.epsilon, config.gamma
  flat_loss = lambda w, batch: loss_fn(unravel(w), batch)
  grad_fn = jax.value_and_grad(flat_loss)

  def step(w, t):
    k_batch, k_noise = jax.random.split(jax.random.fold_in(key, t))
    loss, grad = grad_fn(w, data.draw(k_batch))
    drift = nbeta * grad + gamma * (w - w_star)
    noise = jax.random.normal(k_noise, w.shape, w.dtype)
    w_new = w - 0.5 * eps * drift + jnp.sqrt(eps) * noise
    return w_new, {"loss": loss, "dist": jnp.linalg.norm(w - w_star),
                   "grad_norm": jnp.linalg.norm(grad)}

  _, trace = jax.lax.scan(step, w_star, jnp.arange(config.num_burnin + config.num_draws))
  return trace


def estimate(loss_fn: LossFn, params: PyTree, key: jax.Array, data: Data,
             config: LLCConfig) -> dict:
  """lambda_hat at w* = params, with its diagnostics (pure; jit and vmap it).

  Returns:
    llc: [] mean over chains; llc_std: [] std over chains; llc_chains: [C];
    init_loss: [] l(w*); loss_trace, dist_trace, grad_norm_trace: [C, T];
    nonfinite: [C] bool, a chain whose trace has a NaN/inf (divergence);
    curvature: [] top Hessian eigenvalue h_max of l at w*;
    stability: [] epsilon (n beta h_max + gamma): the update is unstable at >= 4.
  """
  nbeta = data.nbeta(config)
  k_chains, k_power = jax.random.split(key)
  chain_keys = jax.random.split(k_chains, config.num_chains)
  traces = _batched(lambda k: sgld_chain(loss_fn, params, k, data, config, nbeta),
                    chain_keys, config.chain_batching)
  init_loss = reference_loss(loss_fn, params, data)
  draws = traces["loss"][:, config.num_burnin:]
  llc_chains = nbeta * (jnp.mean(draws, axis=1) - init_loss)
  curvature = top_curvature(loss_fn, params, data, k_power, config.power_iters)
  finite = jnp.all(jnp.isfinite(traces["loss"]), axis=1) & jnp.all(
      jnp.isfinite(traces["dist"]), axis=1)
  return {"llc": jnp.mean(llc_chains), "llc_std": jnp.std(llc_chains),
          "llc_chains": llc_chains, "init_loss": init_loss,
          "loss_trace": traces["loss"], "dist_trace": traces["dist"],
          "grad_norm_trace": traces["grad_norm"], "nonfinite": ~finite,
          "curvature": curvature,
          "stability": config.epsilon * (nbeta * curvature + config.gamma)}


def estimate_over_time(loss_fn: LossFn, stacked_params: PyTree, key: jax.Array,
                       data: Data, config: LLCConfig) -> dict:
  """`estimate` at every checkpoint of `stacked_params` (leaves [T, ...]) in one
  call (vmapped, or mapped: `config.checkpoint_batching`) with the same `key` at
  each (common random numbers): every output gains a leading [T] axis."""
  return _batched(lambda p: estimate(loss_fn, p, key, data, config), stacked_params,
                  config.checkpoint_batching)


def jit_estimate(loss_fn: LossFn, data: Data, config: LLCConfig, over_time: bool = False):
  """A jitted (params, key) -> estimate (or estimate_over_time) for these fixed
  loss, data and config."""
  fn = estimate_over_time if over_time else estimate
  return jax.jit(lambda params, key: fn(loss_fn, params, key, data, config))


def diagnose(result: dict, num_burnin: int) -> list[str]:
  """One-line warnings from one checkpoint's `estimate` (host side, numpy values).

  Divergence (non-finite chains), the step-size check epsilon a_max against the
  limit 4, a negative estimate (w* not a local minimum: SGLD is training), and a
  trace still rising at the end (not converged: more steps or a larger epsilon).
  """
  import numpy as np
  warnings = []
  bad = int(np.sum(result["nonfinite"]))
  if bad:
    warnings.append(f"{bad} chain(s) diverged (NaN/inf): lower epsilon")
  stability = float(result["stability"])
  if not stability < 4:
    warnings.append(f"epsilon*(nbeta*h_max+gamma) = {stability:.3g} >= 4: SGLD is "
                    "unstable; lower epsilon")
  elif stability > STABILITY_WARN:
    warnings.append(f"epsilon*(nbeta*h_max+gamma) = {stability:.3g} is near the "
                    f"stability limit 4 (step-size inflation "
                    f"{1 / (1 - stability / 4):.2f}x): lower epsilon")
  llc = float(result["llc"])
  if np.isfinite(llc) and llc < 0:
    warnings.append(f"negative LLC {llc:.3g}: w* is not a local minimum (the loss "
                    "trace falls below l(w*)); raise gamma or use a converged w*")
  trace = np.asarray(result["loss_trace"])[:, num_burnin:]
  if trace.shape[1] >= 4 and np.all(np.isfinite(trace)):
    q = trace.shape[1] // 4
    first, last = trace[:, :q].mean(), trace[:, -q:].mean()
    spread = trace.std(axis=1).mean() / np.sqrt(q) + 1e-12
    if last - first > 4 * spread:
      warnings.append("loss trace still rising after burn-in: more steps or a larger "
                      "epsilon")
  return warnings
