"""Per-position error curves of a function-class run, next to the classical baselines.

See docs/deep_icl.md, "Evaluation". For a run on a function-class task
(`icl.tasks.function_class`: Garg et al.'s linear, sparse, network and tree classes,
Raventós et al.'s task pools) `curves` scores every seed of the model and every
baseline of the class on the same fresh full-size prompts, at every position k
(the prediction from k examples):

  err_k = mean over prompts of (yhat_k - y_k)^2 / normaliser    (Garg: / d, / s, / 1)

with y the (noisy, if the task has label noise) target, so for Raventós' noisy
linear pool err averaged over k is the paper's L / D. With a task pool (M > 0)
the curves are computed twice: on pool tasks ("pool") and on tasks drawn fresh from
the prior ("fresh"); without one, on fresh tasks only. Beside the errors, the
behavioural distance of the model to each baseline (Raventós, Eq. 4),

  dist_k = mean over prompts of (yhat_k - yhat^E_k)^2 / normaliser,

and their means over k ("mean"). Baselines (theory/baselines.py): least squares,
averaging and 3-NN for every linear class; ridge (lambda = sigma^2) with label noise;
Lasso (alpha = 0.01) and the exact sparse posterior for sparse tasks; dMMSE on the
pool when there is one.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from icl import programs
from icl.tasks import function_class
from theory import baselines

LINEAR_CLASSES = ("linear", "noisy_linear", "sparse_linear")
JITTER = 1e-4  # noise variance the Bayes estimators use for noiseless data


def supports(exp) -> bool:
  """Curves apply to every function-class task."""
  return isinstance(exp.task, function_class.FunctionClassTask)


def baseline_fns(task, task_name: str) -> dict:
  """{name: f(batch) -> yhat [B, K]} of the baselines that apply to `task`."""
  out = {}
  if task_name not in LINEAR_CLASSES:
    out["3-nn"] = lambda b: baselines.nearest_neighbours(b["x"], b["y"], 3)
    return out
  noise = float(task.noise_var)
  out["least_squares"] = lambda b: baselines.least_squares(b["x"], b["y"], 1e-4)
  out["averaging"] = lambda b: baselines.averaging(b["x"], b["y"])
  out["3-nn"] = lambda b: baselines.nearest_neighbours(b["x"], b["y"], 3)
  if noise > 0:
    out["ridge"] = lambda b: baselines.ridge(b["x"], b["y"], noise)
  if task_name == "sparse_linear":
    out["lasso"] = lambda b: baselines.lasso(b["x"], b["y"], 0.01)
    if task.dim <= 20:  # C(d, s) supports: 1140 at d = 20, s = 3
      out["sparse_bayes"] = lambda b: baselines.sparse_bayes(
          b["x"], b["y"], task.sparsity, max(noise, JITTER))
  if task.pool_size:
    pool = task.pool()["w"]
    out["dmmse"] = lambda b: baselines.dmmse(b["x"], b["y"], pool, max(noise, JITTER))
  return out


@programs.per_run(static_argnums=(0, 2, 3, 4, 5, 7))
def _chunk_sums(exp, params, task_name: str, batch_size: int, num_chunks: int,
                pool: bool, key, name: str):
  """Sums over prompts of the squared errors per position and of their squares (for
  the standard errors): of the model (`name` = "model") or of baseline `name` and
  its distance to the model. One baseline per program: two batched LAPACK kernels
  running at once in one CPU program (lasso's eigh beside the sparse posterior's
  Cholesky) can deadlock jaxlib's shared thread pool."""
  task = exp.task

  def chunk(k):
    batch = task.sample(k, batch_size, pool=pool, **task.eval_sample_kwargs)
    model = jax.vmap(lambda p: exp.apply(p, batch))(params)  # [S, B, K]
    if name == "model":
      sq = {"model": jnp.square(model - batch["y"])}  # [S, B, K]
    else:
      pred = baseline_fns(task, task_name)[name](batch)
      sq = {name: jnp.square(pred - batch["y"])[None],
            f"dist/{name}": jnp.square(model - pred)}
    return {n: (jnp.sum(v, 1), jnp.sum(jnp.square(v), 1),
                jnp.sum(jnp.square(jnp.mean(v, -1)), 1)) for n, v in sq.items()}

  per_chunk = jax.lax.map(chunk, jax.random.split(key, num_chunks))
  return jax.tree.map(lambda a: jnp.sum(a, 0), per_chunk)


def curves(exp, params, key, num_prompts: int, batch_size: int, task_name: str,
           pool: bool = True, names: tuple[str, ...] | None = None) -> dict:
  """The per-position curves (module docstring) of every seed in `params` (leading
  axis S) on `num_prompts` fresh prompts: {name: {"err": [K] (mean over seeds),
  "se": [K] (over seeds when S > 1, else over prompts), "seeds": [S][K] (models),
  "mean": float (over k), "mean_se": float}}; baselines under their names, the
  model under "model", distances under "dist/<baseline>"; `names` keeps only those
  baselines (default: every one of the class)."""
  batch_size = min(batch_size, num_prompts)
  num_chunks = -(-num_prompts // batch_size)
  n = num_chunks * batch_size
  # one device, whatever the training's layout (a state replicated over several host
  # devices ran the whole evaluation on each of them, and could stall)
  params = jax.device_put(jax.device_get(params), jax.devices()[0])
  available = baseline_fns(exp.task, task_name)
  sums = {}
  for name in ["model"] + [n for n in available if names is None or n in names]:
    sums.update(jax.device_get(_chunk_sums(exp, params, task_name, batch_size,
                                           num_chunks, bool(pool), key, name)))
  norm = float(exp.task.normaliser)
  out = {}
  for name, (s1, s2, m2) in sums.items():
    mean = np.asarray(s1, np.float64) / n / norm  # [S, K]
    var = np.maximum(np.asarray(s2, np.float64) / n / norm ** 2 - mean ** 2, 0)
    prompt_se = np.sqrt(var / n)  # [S, K]
    k_mean = mean.mean(-1)  # [S]
    k_var = np.maximum(np.asarray(m2, np.float64) / n / norm ** 2 - k_mean ** 2, 0)
    seeds = mean.shape[0]
    if seeds > 1:
      se = mean.std(0, ddof=1) / np.sqrt(seeds)
      mean_se = float(k_mean.std(ddof=1) / np.sqrt(seeds))
    else:
      se, mean_se = prompt_se[0], float(np.sqrt(k_var[0] / n))
    out[name] = {"err": mean.mean(0).tolist(), "se": se.tolist(),
                 "mean": float(k_mean.mean()), "mean_se": mean_se}
    if name == "model" or name.startswith("dist/"):
      out[name]["seeds"] = mean.tolist()
      out[name]["seeds_mean"] = k_mean.tolist()
  return out


def evaluate_curves(exp, params, key, num_prompts: int, batch_size: int,
                    task_name: str, names: tuple[str, ...] | None = None) -> dict:
  """{"fresh": curves on tasks from the prior, "pool": on pool tasks (M > 0 only)}."""
  out = {"fresh": curves(exp, params, key, num_prompts, batch_size, task_name,
                         pool=False, names=names),
         "normaliser": float(exp.task.normaliser), "pool_size": int(exp.task.pool_size)}
  if exp.task.pool_size:
    out["pool"] = curves(exp, params, key, num_prompts, batch_size, task_name, pool=True,
                         names=names)
  return out
