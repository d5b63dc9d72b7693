"""The pure core of training: init, step, scanned chunk, evaluation.

Everything here is a function of pytrees and keys, so `jax.jit`, `jax.lax.scan`,
`jax.vmap` and sharding compose. A training state is a dict

  {"params": {...}, "opt_state": ..., "step": int32}

with params a plain nested dict of arrays (``nnx.split`` -> pure dict; the module is
rebuilt with ``nnx.merge(graphdef, params)`` inside the traced functions). The
trainer holds S seeds at once: every leaf of the state carries a leading seed axis.

Randomness: seed i uses ``jax.random.key(config.seed + i)``, split into an init key
and a data key; the batch of step t is drawn from ``fold_in(data_key, t)``, so a
run is reproducible and resumable at any step, and seed i of an S-seed run equals
the single-seed run with ``config.seed + i``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from icl import config_lib, losses, probes, programs
from icl.probes import recording as probes_lib
from icl.train import faults, optim, xla_options
from icl.train import sharding

PyTree = Any


def seed_keys(spec) -> tuple[jax.Array, jax.Array]:
  """Init and data keys, each [M] (M = sweep points x S, point-major): seed i of
  every point uses seed + i. `spec`: a Spec (or a ConfigDict, resolved here)."""
  spec = config_lib.resolve(spec, check_devices=False)
  seeds = (spec.seed + np.tile(np.arange(spec.train.num_seeds), spec.sweep.num_points)
           ).astype(np.int32)
  return _seed_keys(seeds)


@jax.jit
def _seed_keys(seeds: jax.Array) -> tuple[jax.Array, jax.Array]:
  # One program (a start-up pays its compile or cache read once, not per eager op).
  keys = jax.vmap(lambda s: jax.random.split(jax.random.key(s)))(seeds)
  return keys[:, 0], keys[:, 1]


@dataclasses.dataclass(frozen=True, eq=False)  # hashed by identity: a static jit argument
class Experiment:
  """A task, a model and an optimizer, as pure functions of a single seed's state."""

  spec: config_lib.Spec
  graphdef: Any
  optimizer: optax.GradientTransformation

  @classmethod
  def from_config(cls, config) -> "Experiment":
    """From a Spec (or a ConfigDict, resolved here without the device check)."""
    spec = config_lib.resolve(config, check_devices=False)
    # The structure only: an abstract model (no initialiser runs, nothing compiles).
    model = nnx.eval_shape(lambda: spec.model_entry(spec.model, spec.task, nnx.Rngs(0)))
    graphdef, _ = nnx.split(model, nnx.Param)
    return cls(spec=spec, graphdef=graphdef, optimizer=optim.make_optimizer(spec.train))

  @property
  def task(self):
    return self.spec.task

  @property
  def config(self) -> config_lib.Spec:
    """The Spec (the name older code used)."""
    return self.spec

  def bind(self, hparams: dict | None) -> "Experiment":
    """This experiment with the in-program sweep's per-model value substituted
    (`config_lib.bind`); a train field rebuilds the optax chain (pure closures over
    the value: the optimizer state's structure does not depend on it)."""
    if not hparams:
      return self
    spec = config_lib.bind(self.spec, hparams)
    optimizer = (optim.make_optimizer(spec.train) if spec.sweep.section == "train"
                 else self.optimizer)
    return dataclasses.replace(self, spec=spec, optimizer=optimizer)

  # --- single seed -------------------------------------------------------------

  def init_params(self, key: jax.Array) -> PyTree:
    # threefry's compact layout, as in the samplers: the same init distribution,
    # and the init program compiles ~3x faster (part of every cold start).
    with jax.threefry_partitionable(False):
      model = self.spec.model_entry(self.spec.model, self.task, nnx.Rngs(params=key))
    return nnx.to_pure_dict(nnx.split(model, nnx.Param)[1])

  def init_state(self, key: jax.Array) -> PyTree:
    params = self.init_params(key)
    return {"params": params, "opt_state": self.optimizer.init(params),
            "step": jnp.zeros((), jnp.int32)}

  def model(self, params: PyTree) -> nnx.Module:
    return nnx.merge(self.graphdef, params)

  def apply(self, params: PyTree, batch, *capture) -> Any:
    """Model prediction; with `capture` types, (prediction, *captured states).

    Without capture types `nnx.capture` returns the bare prediction; the call still
    goes through it so that the model's `sow`s are not the deprecated bare kind.
    """
    return nnx.capture(self.model(params), *capture)(batch)

  def loss(self, params: PyTree, batch) -> tuple[jax.Array, jax.Array]:
    """(training loss, prediction). Where the task declares `loss_positions` and the
    model reads `readout_positions` (and train.readout_positions is on), the model
    predicts at those positions only and the loss is taken there: the same loss and
    gradients as the full output's (tests/train/test_readout_positions.py), and the
    prediction is then [B, P, ...]."""
    positions = (self.task.loss_positions(batch) if self.spec.train.readout_positions
                 and self.spec.model_entry.readout_positions else None)
    if positions is not None:
      pred = self.apply(params, dict(batch, readout_positions=positions))
      batch = dict(batch, **{k: losses.gather_positions(batch[k], positions)
                             for k in ("targets", "loss_mask")})
    else:
      pred = self.apply(params, batch)
    loss = self.task.loss(pred, batch)
    if self.spec.train.z_loss > 0:  # token models: log^2 Z of the output logits
      loss = loss + self.spec.train.z_loss * losses.z_loss(pred, batch.get("loss_mask"))
    return loss, pred

  def train_step(self, state: PyTree, data_key: jax.Array) -> tuple[PyTree, dict]:
    """One optimizer step on a fresh batch drawn from fold_in(data_key, step).

    Metrics: the loss, and what a person checks first when a run goes wrong: the
    learning rate and the global norms of the gradient, the update and the params."""
    step = state["step"]
    train = self.spec.train
    batch = self.task.sample(jax.random.fold_in(data_key, step), train.batch_size,
                             step=step)
    batch = sharding.constrain_batch(batch, self.spec)  # only when M = 1
    (loss, _), grads = jax.value_and_grad(self.loss, has_aux=True)(
        state["params"], batch)
    updates, opt_state = self.optimizer.update(grads, state["opt_state"],
                                               state["params"])
    params = optax.apply_updates(state["params"], updates)
    metrics = {"train_loss": loss, "lr": optim.learning_rate_schedule(train)(step),
               "grad_norm": optax.tree.norm(grads),
               "update_norm": optax.tree.norm(updates),
               "param_norm": optax.tree.norm(params)}
    if train.skip_nonfinite:  # drop a bad step's update: non-finite, or exploding
      ok = faults.all_finite((loss, grads, params)) & (loss <= self.loss_limit())
      params, opt_state = faults.keep_if_finite(
          ok, (params, opt_state), (state["params"], state["opt_state"]))
      metrics["skipped"] = ~ok
    return {"params": params, "opt_state": opt_state, "step": step + 1}, metrics

  def loss_limit(self) -> float:
    """train.divergence_factor x the task's trivial loss (inf when either is off):
    with train.skip_nonfinite a step above it is dropped like a non-finite one."""
    factor, trivial = self.spec.train.divergence_factor, self.task.trivial_loss()
    return float(factor * trivial) if factor and trivial else float("inf")

  def train_chunk(self, state: PyTree, data_key: jax.Array, num_steps: int,
                  probe_every: int = 0, snap_offsets: jax.Array | None = None
                  ) -> tuple[PyTree, dict]:
    """`num_steps` steps fused in one lax.scan; metrics stacked [num_steps]. With
    probe_every / snap_offsets, probes and weight snapshots are recorded inside the
    scan (icl.probes.recording.scan_with_probes)."""
    def body(s, _):
      return self.train_step(s, data_key)
    if probe_every or snap_offsets is not None:
      return probes_lib.scan_with_probes(self.probe_context(), body, state, num_steps,
                                         probe_every, snap_offsets)
    return jax.lax.scan(body, state, None, length=num_steps)

  def probe_context(self) -> probes.ProbeContext:
    """What the probes read: the model's forward pass, name and config, the task."""
    return probes.ProbeContext(apply=self.apply, task=self.task,
                               model_name=self.spec.model_name, model=self.spec.model,
                               seed=self.spec.seed,
                               num_prompts=self.spec.probes.num_prompts)

  def eval_loss(self, params: PyTree, key: jax.Array, num_prompts: int,
                batch_size: int, context_len: int | None = None,
                step: jax.Array | None = None) -> dict:
    """Mean loss (and task metrics) on `num_prompts` fresh prompts, in chunks of
    `batch_size` so memory stays bounded; with the task's `per_prompt_error`, the
    loss's Monte-Carlo standard error too.

    `step` reaches tasks whose distribution follows a curriculum; the task's
    `eval_sample_kwargs` (e.g. in-context parity's split='all') are passed too.
    """
    sample, keys = self._eval_sampler(key, num_prompts, batch_size, context_len, step)
    per_chunk = jax.lax.map(lambda k: self._eval_metrics(params, sample(k)), keys)
    return _eval_means(per_chunk, keys.shape[0] * min(batch_size, num_prompts))

  def eval_prompts(self, key: jax.Array, num_prompts: int, batch_size: int,
                   context_len: int | None = None, step: jax.Array | None = None):
    """The prompts `eval_loss` draws, all at once: every leaf [chunks, batch_size,
    ...] (`eval_on` of them is `eval_loss`)."""
    sample, keys = self._eval_sampler(key, num_prompts, batch_size, context_len, step)
    return jax.lax.map(sample, keys)

  def eval_on(self, params: PyTree, prompts) -> dict:
    """`eval_loss` on prompts drawn by `eval_prompts`."""
    per_chunk = jax.lax.map(lambda b: self._eval_metrics(params, b), prompts)
    chunks, batch_size = jax.tree.leaves(prompts)[0].shape[:2]
    return _eval_means(per_chunk, chunks * batch_size)

  def _eval_sampler(self, key, num_prompts, batch_size, context_len, step):
    """(key -> one chunk's batch, the chunks' keys [chunks])."""
    batch_size = min(batch_size, num_prompts)
    num_chunks = -(-num_prompts // batch_size)
    kwargs = dict(self.task.eval_sample_kwargs)
    if context_len is not None:
      kwargs["context_len"] = context_len

    def sample(k):
      return self.task.sample(k, batch_size, step=step, **kwargs)
    return sample, jax.random.split(key, num_chunks)

  def _eval_metrics(self, params: PyTree, batch) -> dict:
    pred = self.apply(params, batch)
    out = {"loss": self.task.loss(pred, batch)}
    err = self.task.per_prompt_error(pred, batch)
    if err is not None:  # per-prompt errors -> second moment for the stderr
      out["loss_sq"] = jnp.mean(jnp.square(err))
    out.update(self.task.metrics(pred, batch))
    return out


def _eval_means(per_chunk: dict, n: int) -> dict:
  """Means over the chunks of `_eval_metrics` (n prompts in all); the loss's
  standard error from its second moment when there is one."""
  means = jax.tree.map(jnp.mean, per_chunk)
  if "loss_sq" in means:
    var = jnp.maximum(means.pop("loss_sq") - jnp.square(means["loss"]), 0.0)
    means["loss_stderr"] = jnp.sqrt(var / n)
  return means


# --- many seeds, jitted --------------------------------------------------------


def _split_hparams(state: PyTree) -> tuple[PyTree, dict | None]:
  return {k: v for k, v in state.items() if k != "hparams"}, state.get("hparams")


@programs.per_run
def init_states(exp: Experiment, init_keys: jax.Array) -> PyTree:
  """States [M, ...]; with an in-program sweep, each holds its value in
  state["hparams"] (so a checkpoint says what it trained)."""
  def one(key, hp):
    state = exp.bind(hp).init_state(key)
    return state if hp is None else dict(state, hparams=hp)
  states = sharding.over_models(one, init_keys, exp.spec.sweep.model_values())
  return sharding.constrain_models(states, exp.spec)


def train_chunk(exp: Experiment, states: PyTree, data_keys: jax.Array,
                num_steps: int, probe_every: int = 0,
                snap_offsets: jax.Array | None = None) -> tuple[PyTree, dict]:
  """All models, `num_steps` steps: states [M, ...] -> states, metrics [M, num_steps]
  (with probes every `probe_every` steps and, with `snap_offsets` (int [S], the
  same for every model; -1 pads), weight snapshots after those steps of the chunk:
  metrics["snapshot"] [M, S, ...]). The offsets are an argument, not a constant, so
  a run's chunks share one program whichever of them hold snapshot steps."""
  def one(s, k):
    s, hp = _split_hparams(s)
    s, metrics = exp.bind(hp).train_chunk(s, k, num_steps, probe_every, snap_offsets)
    return (s if hp is None else dict(s, hparams=hp)), metrics
  states, metrics = sharding.over_models(one, states, data_keys)
  return sharding.constrain_models(states, exp.spec), metrics


def evaluate(exp: Experiment, params: PyTree, key: jax.Array, num_prompts: int,
             batch_size: int, context_len: int | None = None,
             step: jax.Array | None = None, hparams: PyTree = None) -> dict:
  """Evaluation of every model on the same fresh prompts: metrics [M].
  `step` reaches curriculum tasks; `hparams` (states["hparams"], with an in-program
  sweep) sets each model's task."""
  return sharding.over_models(lambda p, hp: exp.bind(hp).eval_loss(
      p, key, num_prompts, batch_size, context_len, step), params, hparams)


def eval_prompts(exp: Experiment, key: jax.Array, num_prompts: int, batch_size: int,
                 context_len: int | None = None, step: jax.Array | None = None):
  """`evaluate`'s prompts, drawn once for every model (`Experiment.eval_prompts`;
  without an in-program sweep, whose points may set the task)."""
  return sharding.constrain_shared(
      exp.eval_prompts(key, num_prompts, batch_size, context_len, step), exp.spec)


def evaluate_on(exp: Experiment, params: PyTree, prompts) -> dict:
  """`evaluate` on prompts from `eval_prompts`: metrics [M]."""
  return sharding.over_models(lambda p: exp.eval_on(p, prompts), params)


# Jitted with the model's XLA:CPU options (xla_options.py): the training and the
# evaluation programs are where the time goes. Each takes the run's Experiment: one jit
# per Experiment (`programs`), its programs dropped with it.
train_chunk = programs.per_run(train_chunk, static_argnums=(0, 3, 4), donate_argnums=(1,),
                               options=xla_options.for_experiment)
evaluate = programs.per_run(evaluate, static_argnums=(0, 3, 4, 5),
                            options=xla_options.for_experiment)
eval_prompts = programs.per_run(eval_prompts, static_argnums=(0, 2, 3, 4),
                                options=xla_options.for_experiment)
evaluate_on = programs.per_run(evaluate_on, options=xla_options.for_experiment)
