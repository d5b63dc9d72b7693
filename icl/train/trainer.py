"""`train_and_evaluate(config, workdir)`: the training driver.

The host loop only moves between chunks: each chunk is `train.log_every` optimizer
steps fused in one jitted `lax.scan` (data generated inside, all seeds vmapped);
after a chunk it writes one metrics line, evaluates every `train.eval_every` steps
and checkpoints every `train.ckpt_every` steps (or at `train.keep_ckpts` log-spaced
steps with `train.ckpt_schedule = 'log'`). Rerunning on the same work dir
resumes from the latest checkpoint.

Faults (icl/train/faults.py, docs/reliability.md): a SIGTERM/SIGINT stops the run
at the end of the current chunk with a checkpoint of that step (`Preempted`); a
non-finite loss or parameter stops it before anything is saved (`Diverged`), so
the last checkpoint stays finite.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import warnings
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from icl import config_lib, records, startup
from icl import workdir as workdir_lib
from icl.train import checkpoint as checkpoint_lib
from icl.train import core, faults, memory, recorder as recorder_lib
from icl.train import sharding

# Per-step diagnostics of the training record, reduced over a chunk: the learning
# rate at the chunk's last step; the global norms averaged over the chunk.
DIAGNOSTICS = ("grad_norm", "update_norm", "param_norm")


class Progress:
  """A live line (step, loss, steps/s, ETA) on a terminal; log lines otherwise."""

  def __init__(self, start: int, total: int):
    self.start, self.total = start, total
    self.t0 = time.perf_counter()
    self.first: tuple[int, float] | None = None  # after the first (compiling) chunk
    self.tty = sys.stderr.isatty()

  def update(self, step: int, loss: float, extra: str = "") -> None:
    now = time.perf_counter()
    if self.first is None:
      self.first = (step, now)
      speed = f"compiled in {now - self.t0:.1f}s"
    else:
      rate = (step - self.first[0]) / max(now - self.first[1], 1e-9)
      speed = f"{rate:,.0f} steps/s  ETA {(self.total - step) / rate:,.0f}s"
    line = f"step {step}/{self.total}  loss {loss:.4f}  {speed}{extra}"
    if self.tty:
      sys.stderr.write("\r\033[K" + line)
      sys.stderr.flush()
    else:
      logging.info(line)

  def close(self) -> None:
    if self.tty:
      sys.stderr.write("\n")


def eval_key(spec: config_lib.Spec) -> jax.Array:
  """Evaluation prompts: fixed across a run, independent of the training data."""
  return _eval_key(spec.seed)


@jax.jit
def _eval_key(seed) -> jax.Array:  # one small program, not two eager ops per evaluation
  return jax.random.fold_in(jax.random.key(seed), 0x5EED)


def check_resumable(workdir: str, spec: config_lib.Spec) -> None:
  """A work dir holding a run with a different config refuses to resume
  (`spec`: a Spec, or a ConfigDict, resolved here)."""
  spec = config_lib.resolve(spec, check_devices=False)
  stored = workdir_lib.flatten(workdir_lib.read_config(workdir))
  differing = config_lib.differing_fields(stored, spec.flat(),
                                          config_lib.RESUMABLE_FIELDS)
  if differing and not spec.overwrite:
    detail = ", ".join(f"{k}: {old!r} -> {new!r}"
                       for k, (old, new) in list(differing.items())[:5])
    raise config_lib.ConfigError(
        f"work dir {workdir!r} holds a run with a different config ({detail}); "
        "use another --workdir, or --config.overwrite=True to resume anyway")


def prepare_workdir(workdir: str, spec: config_lib.Spec) -> None:
  """Creates the work dir and checks it is writable (fails now, not at first save)."""
  try:
    os.makedirs(workdir, exist_ok=True)
    # A file of this process's own (the processes of a multi-host run all check).
    fd, probe = tempfile.mkstemp(prefix=".write_test.", dir=workdir)
    os.close(fd)
    os.remove(probe)
  except OSError as e:
    raise config_lib.ConfigError(
        f"--workdir={workdir!r} is not writable ({e.strerror})") from None
  if os.path.exists(os.path.join(workdir, workdir_lib.CONFIG)):
    check_resumable(workdir, spec)


def check_finite(params_ok, metrics, start: int, ckpt,
                 spec: config_lib.Spec | None = None) -> np.ndarray:
  """Raises Diverged (naming the step and the last checkpoint) on a non-finite
  loss or parameter of a chunk begun at `start` (`params_ok`: [M] bools after the
  chunk, `faults.finite_per_seed`); returns its losses [M, n] with the steps
  dropped by train.skip_nonfinite set to NaN."""
  losses = sharding.to_host(metrics["train_loss"])  # [M, n], gathered over processes
  skipped = (sharding.to_host(metrics["skipped"]) if "skipped" in metrics
             else np.zeros(losses.shape, bool))
  params_ok = sharding.to_host(params_ok)
  name = (lambda m: _model_name(spec, m)) if spec is not None else (lambda m: f"seed {m}")
  where = faults.first_nonfinite(np.where(skipped, 0.0, losses), params_ok, start, name)
  if where is not None:
    last = ckpt.latest_step()
    kept = ("no checkpoint yet" if last is None else
            f"last finite checkpoint: step {last} in {ckpt.directory} (kept)")
    raise faults.Diverged(
        f"non-finite {where}; stopped before saving, {kept}; lower train.lr or set "
        "--config.train.skip_nonfinite=True to drop such steps")
  return np.where(skipped, np.nan, losses)


def _kept(ckpt) -> str:
  last = ckpt.latest_step()
  return ("no checkpoint yet" if last is None else
          f"last good checkpoint: step {last} in {ckpt.directory} (kept)")


def _model_name(spec: config_lib.Spec, m: int) -> str:
  """'seed 3' (or 'seed 3 of lr=0.1' with an in-program sweep) for model m."""
  seed = f"seed {spec.seed + m % spec.train.num_seeds}"
  labels = spec.sweep.labels
  return f"{seed} of {labels[m // spec.train.num_seeds]}" if labels else seed


def _row_nanmeans(x: np.ndarray) -> np.ndarray:
  """np.nanmean over axis 1, NaN for a row with no number (a chunk whose steps
  train.skip_nonfinite all dropped) and no RuntimeWarning for it."""
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)
    return np.nanmean(x, axis=1)


def loss_scale(spec: config_lib.Spec, losses: np.ndarray) -> np.ndarray:
  """Per model [M], the loss a run diverges against: the task's trivial loss, or,
  for a task without one, the first chunk's loss."""
  trivial = spec.task.trivial_loss()
  if trivial:
    return np.full(losses.shape[0], float(trivial))
  return np.abs(_row_nanmeans(losses))


def check_size(spec: config_lib.Spec, losses: np.ndarray, scale: np.ndarray,
               start: int, ckpt) -> None:
  """Raises Diverged when a model's chunk-mean training loss exceeds
  train.divergence_factor x its scale (`loss_scale`): a finite explosion."""
  factor = spec.train.divergence_factor
  if not factor:
    return
  chunk = _row_nanmeans(losses)  # [M]
  bad = np.flatnonzero(chunk > factor * scale)
  if bad.size:
    m = int(bad[0])
    others = f" (and {bad.size - 1} more)" if bad.size > 1 else ""
    raise faults.Diverged(
        f"training loss {chunk[m]:.3g} of {_model_name(spec, m)}{others} over steps "
        f"{start + 1}-{start + losses.shape[1]} exceeds train.divergence_factor="
        f"{factor:g} x {scale[m]:.3g} (the task's trivial loss); stopped before "
        f"saving, {_kept(ckpt)}; lower train.lr or raise train.divergence_factor")


def _evaluation_args(exp: core.Experiment, states) -> tuple:
  spec = exp.spec
  return (exp, states["params"], eval_key(spec), spec.eval.num_prompts,
          spec.eval.batch_size, None, states["step"][0], states.get("hparams"))


def evaluate_states(exp: core.Experiment, states) -> dict:
  """eval_loss (+ task metrics) of every model at the training context length."""
  return jax.tree.map(sharding.to_host, core.evaluate(*_evaluation_args(exp, states)))


def _input_used(jaxpr, index: int) -> bool:
  """Whether input `index` of a jaxpr reaches any equation or output (through the
  bodies of nested jit calls; any other use counts)."""
  var = jaxpr.invars[index]
  if any(var is v for v in jaxpr.outvars):
    return True
  for eqn in jaxpr.eqns:
    uses = [i for i, v in enumerate(eqn.invars) if v is var]
    if not uses:
      continue
    inner = eqn.params.get("jaxpr") if eqn.primitive.name in ("pjit", "jit") else None
    if inner is None or any(_input_used(inner.jaxpr, i) for i in uses):
      return True
  return False


# The most memory the kept evaluation prompts may take (20 MB in the default run).
KEPT_PROMPTS_MAX_BYTES = 256 * 2**20


class Evaluator:
  """The run's evaluation at the training context length, on the same prompts at
  every evaluation (`eval_key`).

  Where the prompts depend on neither the step (no curriculum reaches the
  evaluation's draw: read off the traced draw) nor the model (no in-program sweep,
  whose points may set the task), take at most KEPT_PROMPTS_MAX_BYTES and 8 more
  copies of them fit in the free memory, they are drawn once and kept on device,
  and each evaluation is the models' forward on them (`core.evaluate_on`): the
  draw was two thirds of the default run's evaluation. Otherwise every evaluation
  draws them again (`core.evaluate`). Both give the same numbers
  (tests/train/test_evaluator.py).
  """

  def __init__(self, exp: core.Experiment, states):
    self.exp, self.prompts, self._draw = exp, None, None
    spec = exp.spec
    # The draw does not read it; an array of its own (the loop donates the states).
    self._step = states["step"][0]
    if states.get("hparams") is None:
      draw = core.eval_prompts.trace(
          exp, eval_key(spec), spec.eval.num_prompts, spec.eval.batch_size, None,
          self._step)
      size = sum(memory.nbytes(x) for x in jax.tree.leaves(draw.out_info))
      if (not _input_used(draw.jaxpr.jaxpr, 1) and size <= KEPT_PROMPTS_MAX_BYTES
          and memory.room_for_copy(draw.out_info)):
        self._draw = draw

  @property
  def keeps_prompts(self) -> bool:
    return self._draw is not None

  def traces(self, states) -> dict:
    """{what: jaxpr} of the evaluation's programs for `states`, for the memory check
    (the calls reuse these traces)."""
    exp = self.exp
    if self._draw is None:
      return {"evaluation chunk": core.evaluate.trace(
          *_evaluation_args(exp, states)).jaxpr}
    layout = sharding.shared_sharding(exp.spec)  # the draw's, so the call reuses this
    prompts = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=layout),
                           self._draw.out_info)
    forward = core.evaluate_on.trace(exp, states["params"], prompts)
    return {"evaluation prompts": self._draw.jaxpr, "evaluation chunk": forward.jaxpr}

  def prepare(self, states) -> None:
    """Compiles (or loads from the persistent cache) the evaluation for `states`
    (arrays still computing are fine: only their shapes and shardings are read) and
    dispatches the draw of kept prompts, so that the first evaluation runs at once.
    Called while the first chunk computes, it overlaps that chunk instead of stalling
    the first evaluation step."""
    exp = self.exp
    if self._draw is None:
      core.evaluate.lower(*_evaluation_args(exp, states)).compile()
      return
    self.prompts = self._draw.lower().compile()(eval_key(exp.spec), self._step)
    core.evaluate_on.lower(exp, states["params"], self.prompts).compile()

  def dispatch(self, states) -> dict:
    """The metrics [M] of every model, still computing."""
    if self._draw is None:
      return core.evaluate(*_evaluation_args(self.exp, states))
    if self.prompts is None:
      self.prepare(states)
    return core.evaluate_on(self.exp, states["params"], self.prompts)

  def __call__(self, states) -> dict:
    """eval_loss (+ task metrics) of every model, on the host."""
    return jax.tree.map(sharding.to_host, self.dispatch(states))


def check_memory(exp: core.Experiment, states, data_keys,
                 recorder: recorder_lib.Recorder, evaluator: Evaluator) -> None:
  """`memory.check_programs` on the traces of the run's first chunk and of its
  evaluation, before either compiles. The loop's calls reuse these traces (jit
  caches them by signature), so the check costs no second trace; a resumed run
  whose first chunk has other static arguments traces that chunk again."""
  train = exp.spec.train
  n = min(train.log_every, train.num_steps)
  chunk = core.train_chunk.trace(exp, states, data_keys, n, **recorder.chunk_args(0, n))
  memory.check_programs(exp.spec, {"training chunk": chunk.jaxpr,
                                   **evaluator.traces(states)})


def train_record(step: int, losses: np.ndarray, metrics: dict,
                 axis: config_lib.HparamAxis) -> dict:
  """The training fields of the metrics line of a chunk ending at `step`."""
  record = {"step": step}
  skipped = "skipped" in metrics
  record.update(axis.summarize(
      "train_loss", faults.mean_of_kept(losses) if skipped else losses.mean(axis=1)))
  if skipped:
    record["skipped_steps"] = int(sharding.to_host(metrics["skipped"]).sum())
  record.update(axis.summarize("lr", sharding.to_host(metrics["lr"])[:, -1]))
  for name in DIAGNOSTICS:
    record.update(axis.summarize(name, _row_nanmeans(sharding.to_host(metrics[name]))))
  return record


def train_and_evaluate(config, workdir: str) -> dict:
  """Trains (or resumes) the run in `workdir`; returns the final eval metrics.

  `config`: a ConfigDict (resolved and validated here, before anything compiles) or
  a resolved `config_lib.Spec`. Raises config_lib.ConfigError for a bad config,
  faults.Preempted after a SIGTERM/SIGINT (checkpointed; rerun to resume) and
  faults.Diverged on a non-finite or exploding loss, workdir.WorkdirBusy when
  another live process trains in `workdir`."""
  spec = config_lib.resolve(config)
  prepare_workdir(workdir, spec)
  # One process per work dir: process 0 holds the lock (multi-host: the others
  # only compute and write nothing).
  lock = workdir_lib.Lock(workdir) if sharding.is_primary() else None
  if lock is not None:
    lock.acquire()
  try:
    with faults.StopSignals() as stop:
      return _train_and_evaluate(spec, workdir, stop)
  finally:
    if lock is not None:
      lock.release()


def _train_and_evaluate(spec: config_lib.Spec, workdir: str,
                        stop: faults.StopSignals) -> dict:
  exp = core.Experiment.from_config(spec)
  train = spec.train
  init_keys, data_keys = sharding.put_models(core.seed_keys(spec), spec)
  # Checked before anything is initialised, on the trace the init then compiles.
  memory.check_state(exp, spec, core.init_states.trace(exp, init_keys).out_info)
  states = core.init_states(exp, init_keys)
  recorder = recorder_lib.Recorder(exp.probe_context(), spec, workdir)
  evaluator = Evaluator(exp, states)
  check_memory(exp, states, data_keys, recorder, evaluator)  # before big compiles
  ckpt = checkpoint_lib.Checkpointer(workdir, keep=train.keep_ckpts)
  start = 0
  if ckpt.latest_step() is not None:
    start, states = ckpt.restore(states)
    logging.info("Resuming %s from step %d", workdir, start)
  primary = sharding.is_primary()  # multi-host: process 0 writes, all compute
  if primary:
    workdir_lib.write_config(workdir, spec.source)
  writer = workdir_lib.metrics_writer(workdir, resume_step=start) if primary else None
  done_path = os.path.join(workdir, workdir_lib.DONE)
  if primary and os.path.exists(done_path):
    os.remove(done_path)

  progress = Progress(start, train.num_steps)
  try:
    step, final = _loop(exp, states, data_keys, start, ckpt, writer, progress, stop,
                        recorder, evaluator)
  finally:  # also on Diverged / Preempted: queued events and the save in flight land
    if writer:
      writer.close()
    ckpt.close()
  if primary:
    with open(done_path, "w") as f:
      f.write(str(step))
  summary = {k: records.summarize_seeds(k, v)[k] for k, v in final.items()}
  logging.info("Finished %s at step %d: eval_loss %.4f", workdir, step,
               summary["loss"])
  return summary


class _Chunk(NamedTuple):
  """A dispatched chunk of steps (start, start + n]; its arrays may still be computing.

  A chunk that ends on an evaluation or checkpoint step and was not finished before
  the next dispatch carries what its end needs: its evaluation, dispatched before
  the next chunk took the state, and a device copy of the state to save."""
  start: int
  n: int
  probe_args: dict
  metrics: dict
  params_ok: jax.Array  # [M] finite parameters after the chunk
  evaluation: dict | None = None  # core.evaluate of the state after the chunk
  to_save: Any = None  # a copy of that state, for its checkpoint


@jax.jit
def _copy_states(states):
  """A copy of the training state in new device buffers (the next chunk donates the
  state's own)."""
  return jax.tree.map(jnp.copy, states)


def _loop(exp: core.Experiment, states, data_keys, start: int, ckpt, writer,
          progress: Progress, stop: faults.StopSignals, recorder: recorder_lib.Recorder,
          evaluator: Evaluator):
  """The chunks from `start` to train.num_steps; returns (step, final eval metrics).
  Raises Preempted after a stop signal (checkpointed) and Diverged.

  Pipelined: the next chunk is dispatched before the host reads the previous one
  (its checks, probe records, metrics line), so the device does not wait on the
  host. A chunk ending on an evaluation or checkpoint step keeps the pipeline
  going too: its evaluation is dispatched before the next chunk (which donates the
  state), and a checkpoint's state is copied on device first (`overlap_saves`:
  when 8 more copies of the state fit in the free memory; otherwise that chunk is
  finished before the next dispatch). The checks of a chunk always pass before its
  state is saved, so every checkpoint holds a state whose chunk passed them. The
  last chunk, and one after a stop signal, is finished before anything more is
  dispatched.
  """
  spec, train = exp.spec, exp.spec.train
  startup.resume()  # a command line paused garbage collection for its start-up
  recorder.start(start, states)
  step, final, scale, pending = start, {}, None, None
  overlap_saves = memory.room_for_copy(states)

  def is_eval_step(end: int) -> bool:
    return end % train.eval_every == 0 or end == train.num_steps

  def needs_states(end: int) -> bool:
    return is_eval_step(end) or checkpoint_lib.is_checkpoint_step(end, train)

  def finish(chunk: _Chunk, end_states=None) -> None:
    """Host side of a chunk; `end_states`: the state after it (eval, save)."""
    nonlocal scale, final
    losses = check_finite(chunk.params_ok, chunk.metrics, chunk.start, ckpt, spec)
    scale = loss_scale(spec, losses) if scale is None else scale
    check_size(spec, losses, scale, chunk.start, ckpt)
    end = chunk.start + chunk.n
    probe_records = recorder.records(chunk.start, chunk.n, chunk.probe_args,
                                     chunk.metrics, end_states)
    record = train_record(end, losses, chunk.metrics, spec.sweep)
    extra = ""
    if chunk.evaluation is not None or (end_states is not None and is_eval_step(end)):
      final = (jax.tree.map(sharding.to_host, chunk.evaluation)
               if chunk.evaluation is not None else evaluator(end_states))
      for name, values in final.items():
        record.update(spec.sweep.summarize(f"eval_{name}", values))
      extra = f"  eval {record['eval_loss']:.4f}"
    record["wall_time"] = time.time()
    if probe_records and probe_records[-1]["step"] == end:  # one line per step
      record.update(probe_records.pop())
    if writer:  # process 0 writes for all hosts
      writer.write(probe_records + [record])
    progress.update(end, record["train_loss"], extra)
    if chunk.to_save is not None:
      ckpt.save(end, chunk.to_save, {"num_seeds": train.num_seeds})
    elif end_states is not None and (checkpoint_lib.is_checkpoint_step(end, train)
                                     or stop.received):
      ckpt.save(end, end_states, {"num_seeds": train.num_seeds})

  while step < train.num_steps and not stop.received:
    n = min(train.log_every, train.num_steps - step)
    probe_args = recorder.chunk_args(step, n)
    states, metrics = core.train_chunk(exp, states, data_keys, n, **probe_args)
    chunk = _Chunk(step, n, probe_args, metrics, faults.finite_per_seed(states["params"]))
    if step == start:
      evaluator.prepare(states)
    step += n
    finish_now = needs_states(step) or stop.received
    if finish_now and step < train.num_steps and not stop.received:
      saving = checkpoint_lib.is_checkpoint_step(step, train)
      if overlap_saves or not saving:  # the next chunk need not wait for this end
        chunk = chunk._replace(
            evaluation=evaluator.dispatch(states) if is_eval_step(step) else None,
            to_save=_copy_states(states) if saving else None)
        finish_now = False
    if pending is not None:  # the previous chunk, read while this one runs
      finish(pending)
    pending = chunk
    if finish_now:
      finish(pending, states)
      pending = None
  if pending is not None:  # a stop signal arrived after the last dispatch
    finish(pending, states)
  progress.close()
  if step < train.num_steps:  # stopped by a signal (the caller's ckpt.close() waits)
    raise faults.Preempted(
        f"{stop.received} at step {step}/{train.num_steps}: saved a checkpoint in "
        f"{ckpt.directory}; rerun the same command to resume")
  if not final:
    final = evaluator(states)
  return step, final
