"""The config schema shared by every experiment, parsed once into a typed spec.

Each file in `configs/` starts from `base_config()` and fills in `task` and `model`.
Every field has a default and a one-line comment. `resolve(config)` is the only
reader of a ConfigDict: it validates it in one place, before anything compiles
(`ConfigError`, one line naming the field, its value and what is allowed), and
returns a frozen `Spec`:

  spec.task     the task (a frozen dataclass of ``icl.tasks``; its fields are
                config.task's)
  spec.model    the model's config dataclass (``icl.models.MODELS[name].config``)
  spec.train    TrainSpec      spec.eval   EvalSpec      spec.probes  ProbeSpec
  spec.sweep    HparamAxis: the in-program (vmapped) hyperparameter axis
  spec.source   the config as a plain nested dict (written to config.json)

Library code takes a `Spec`; the entry points (``icl.train``, ``icl.evaluate``,
``icl.sweep``) resolve the config they are given.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import logging

from icl import models, tasks
from icl.workdir import flatten
from icl.tasks import regression
from icl.train import optim


class ConfigError(ValueError):
  """A config field has a value that is not allowed (one-line message)."""


def base_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = 0  # seed i of train.num_seeds uses seed + i for its init and data keys
  c.overwrite = False  # allow resuming a work dir whose stored config differs

  c.task = ml_collections.ConfigDict()
  c.task.name = "regression"  # key of icl.tasks.TASKS

  c.model = ml_collections.ConfigDict()
  c.model.name = "one_layer"  # key of icl.models.MODELS

  c.train = ml_collections.ConfigDict()
  c.train.num_steps = 20_000  # optimizer steps
  c.train.batch_size = 256  # fresh prompts per step (online data)
  c.train.optimizer = "adam"  # 'adam', 'adamw' or 'sgd' (icl.train.optim.OPTIMIZERS)
  c.train.lr = 1e-3  # peak learning rate
  c.train.b1 = 0.9  # Adam beta1
  c.train.b2 = 0.999  # Adam beta2
  c.train.eps = 1e-8  # Adam epsilon
  c.train.weight_decay = 0.0  # decoupled weight decay (adamw)
  c.train.schedule = "constant"  # 'constant', 'cosine' or 'linear' (decay to 0 after warmup)
  c.train.warmup_steps = 0  # linear warm-up steps
  c.train.grad_clip = 0.0  # global-norm clipping threshold; 0 = off
  c.train.z_loss = 0.0  # coefficient of log^2 Z of output logits (token tasks)
  c.train.num_seeds = 1  # independent models trained together with jax.vmap
  c.train.log_every = 500  # steps per scanned chunk; train loss written once per chunk
  c.train.eval_every = 5_000  # steps between evaluations (multiple of log_every)
  c.train.ckpt_every = 5_000  # steps between checkpoints (multiple of log_every)
  c.train.keep_ckpts = 3  # checkpoints kept on disk
  c.train.ckpt_schedule = "linear"  # 'linear': every ckpt_every steps (the last keep_ckpts
  #   kept); 'log': keep_ckpts log-spaced steps from log_every to num_steps, all kept,
  #   so early development survives for icl.devinterp
  c.train.skip_nonfinite = False  # drop a step whose loss/grads are non-finite (else stop)
  c.train.divergence_factor = 100.0  # stop (exit 3) when a seed's training loss exceeds
  #   this multiple of the task's trivial loss (or of its first chunk's loss); 0 = off
  c.train.readout_positions = True  # where the task declares its loss positions (MQAR
  #   queries, sparse parity's query) and the model supports it (transformer), the
  #   training loss reads the output at those positions only (same loss and gradients)

  c.eval = ml_collections.ConfigDict()
  c.eval.num_prompts = 20_000  # fresh prompts per evaluation
  c.eval.batch_size = 4_096  # prompts per evaluation chunk (bounds memory)
  c.eval.context_lens = ""  # comma-separated lengths for icl.evaluate ('' = training length)

  c.probes = ml_collections.ConfigDict()  # icl/probes, keys in docs/probes.md
  c.probes.every = 1_000  # steps between probes inside the training scan; 0 = off
  c.probes.num_prompts = 512  # prompts in the fixed probe batch
  c.probes.snapshots = 24  # log-spaced steps whose W_KQ / W_OV go to snapshots/

  # The in-program sweep: one compiled program trains every value (vmapped; see
  # docs/sweeps.md). Not to be confused with `python -m icl.sweep`, one program per
  # grid point.
  c.sweep = ml_collections.ConfigDict()
  c.sweep.field = ""  # '' = off; a numeric shape-keeping field, e.g. 'train.lr'
  c.sweep.value_list = ""  # comma-separated values of sweep.field, e.g. '1e-3,3e-3'
  return c


# --- the typed spec ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TrainSpec:
  """config.train, typed (the meaning of each field: `base_config`)."""

  num_steps: int = 20_000
  batch_size: int = 256
  optimizer: str = "adam"
  lr: float = 1e-3
  b1: float = 0.9
  b2: float = 0.999
  eps: float = 1e-8
  weight_decay: float = 0.0
  schedule: str = "constant"
  warmup_steps: int = 0
  grad_clip: float = 0.0
  z_loss: float = 0.0
  num_seeds: int = 1
  log_every: int = 500
  eval_every: int = 5_000
  ckpt_every: int = 5_000
  keep_ckpts: int = 3
  ckpt_schedule: str = "linear"
  skip_nonfinite: bool = False
  divergence_factor: float = 100.0
  readout_positions: bool = True


@dataclasses.dataclass(frozen=True)
class EvalSpec:
  """config.eval, typed; `context_lens` parsed ('' -> (): the training length);
  `covariate_scales` (optional, '' -> ()): c of an evaluation covariance c Sigma
  (covariate shift; read by python -m icl.evaluate.linear_gd)."""

  num_prompts: int = 20_000
  batch_size: int = 4_096
  context_lens: tuple[int, ...] = ()
  covariate_scales: tuple[float, ...] = ()


@dataclasses.dataclass(frozen=True)
class ProbeSpec:
  """config.probes, typed (every = 0: no probes)."""

  every: int = 1_000
  num_prompts: int = 512
  snapshots: int = 24


# Fields an in-program sweep may vary -> what each changes. Numeric, shape-keeping,
# and used in arithmetic only (never in a Python branch or a numpy constant), so a
# traced per-model value can stand in for them.
SWEEPABLE = {
    "train.lr": "peak learning rate (any schedule)",
    "train.b1": "Adam beta1",
    "train.b2": "Adam beta2",
    "train.eps": "Adam epsilon",
    "train.weight_decay": "decoupled weight decay (adamw)",
    "task.noise_var": "label noise variance sigma^2 (training and evaluation data)",
    "task.prior_scale": "scale of the task vector beta",
    "task.prior_mean": "mean of the task vector beta",
    "model.init_scale": "initialisation scale",
}


@dataclasses.dataclass(frozen=True)
class HparamAxis:
  """The in-program sweep: ``config.sweep.field`` over ``config.sweep.value_list``.

  One program trains M = num_points x num_seeds models, point major: model
  m = p * S + i is point p, seed config.seed + i (every point sees the same seeds and
  data: common random numbers). Without a sweep, num_points = 1 and M = S.
  """

  field: str = ""  # 'train.lr'; '' = no sweep
  values: tuple[float, ...] = ()
  num_seeds: int = 1

  @property
  def section(self) -> str:
    return self.field.split(".")[0] if self.field else ""

  @property
  def leaf(self) -> str:
    """'lr' for 'train.lr': the name in metric keys and in state['hparams']."""
    return self.field.rsplit(".", 1)[-1]

  @property
  def num_points(self) -> int:
    return max(len(self.values), 1)

  @property
  def num_models(self) -> int:
    return self.num_points * self.num_seeds

  @property
  def labels(self) -> list[str]:
    """Metric-key suffixes, one per point: 'lr=0.001' (the value is repr(float))."""
    return [f"{self.leaf}={v!r}" for v in self.values] if self.field else []

  def model_values(self) -> dict[str, np.ndarray] | None:
    """{leaf: f32[M]} (each point's value repeated num_seeds times), or None."""
    if not self.field:
      return None
    return {self.leaf: np.repeat(np.asarray(self.values, np.float32), self.num_seeds)}

  def summarize(self, name: str, per_model) -> dict[str, Any]:
    """Metric `name` of every model [M] -> metrics.jsonl fields (`icl.records`)."""
    from icl import records  # records is a leaf module (numpy only)
    return records.summarize(name, per_model, self.labels, self.num_seeds)


@dataclasses.dataclass(frozen=True, eq=False)  # hashed by identity (a static jit arg)
class Spec:
  """A resolved, validated experiment (module docstring)."""

  seed: int
  overwrite: bool
  task: tasks.Task
  model_name: str
  model: Any
  train: TrainSpec
  eval: EvalSpec
  probes: ProbeSpec
  sweep: HparamAxis
  source: dict

  @property
  def num_models(self) -> int:
    """M: in-program sweep points x seeds."""
    return self.sweep.num_models

  @property
  def model_entry(self) -> models.ModelEntry:
    return models.MODELS[self.model_name]

  def flat(self) -> dict[str, Any]:
    """{'train.lr': 1e-3, ...}: the source config flattened."""
    return flatten(self.source)

  def point(self, value: float) -> "Spec":
    """The single point `value` of the in-program sweep, as its own Spec."""
    return resolve(point_config(ml_collections.ConfigDict(self.source), self.sweep, value),
                   check_devices=False)


# Fields that may change between a run (or a sweep dir) and its resumption.
RESUMABLE_FIELDS = ("train.num_steps", "train.log_every", "train.eval_every",
                    "train.ckpt_every", "train.keep_ckpts", "train.ckpt_schedule",
                    "train.skip_nonfinite",
                    "train.divergence_factor", "overwrite", "probes.every", "probes.num_prompts", "probes.snapshots")


# --- validation -------------------------------------------------------------------

def _check(ok: bool, field: str, value, allowed: str) -> None:
  if not ok:
    raise ConfigError(f"config.{field}={value!r} is not allowed; allowed: {allowed}")


def _is_int(v) -> bool:
  return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
  return isinstance(v, (int, float)) and not isinstance(v, bool)


def _one_of(choices) -> tuple:
  return (lambda v: v in choices), ", ".join(map(repr, choices))


# (field, predicate, description of the allowed values); a rule applies when the
# field exists in the config. Choices come from the modules that define them.
RULES = (
    ("seed", lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    ("train.num_steps", lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    ("train.batch_size", lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    ("train.lr", lambda v: _is_num(v) and v > 0, "a number > 0"),
    ("train.b1", lambda v: _is_num(v) and 0 <= v < 1, "a number in [0, 1)"),
    ("train.b2", lambda v: _is_num(v) and 0 <= v < 1, "a number in [0, 1)"),
    ("train.eps", lambda v: _is_num(v) and v > 0, "a number > 0"),
    ("train.weight_decay", lambda v: _is_num(v) and v >= 0, "a number >= 0"),
    ("train.warmup_steps", lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    ("train.grad_clip", lambda v: _is_num(v) and v >= 0, "a number >= 0 (0 = off)"),
    ("train.z_loss", lambda v: _is_num(v) and v >= 0, "a number >= 0 (0 = off)"),
    ("train.num_seeds", lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    ("train.log_every", lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    ("train.eval_every", lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    ("train.ckpt_every", lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    ("train.keep_ckpts", lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    ("train.ckpt_schedule", lambda v: v in ("linear", "log"), "'linear' or 'log'"),
    ("train.skip_nonfinite", lambda v: isinstance(v, bool), "True or False"),
    ("train.divergence_factor", lambda v: _is_num(v) and (v == 0 or v > 1),
     "0 (off) or a number > 1"),
    ("eval.num_prompts", lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    ("eval.batch_size", lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    ("probes.every", lambda v: _is_int(v) and v >= 0, "an integer >= 0 (0 = off)"),
    ("probes.num_prompts", lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    ("probes.snapshots", lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    ("task.dim", lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    ("task.context_len", lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    ("task.noise_var", lambda v: _is_num(v) and v >= 0, "a number >= 0"),
    ("task.prior_scale", lambda v: _is_num(v) and v >= 0, "a number >= 0"),
    ("task.rho", lambda v: _is_num(v) and -1 < v < 1, "a number in (-1, 1)"),
    ("task.covariance", *_one_of(regression.COVARIANCES)),
    ("task.covariates", *_one_of(regression.COVARIATES)),
    ("task.input_range", lambda v: _is_num(v) and v > 0, "a number > 0"),
    ("task.cov_min", lambda v: _is_num(v) and v > 0, "a number > 0"),
    ("task.cov_max", lambda v: _is_num(v) and v > 0, "a number > 0"),
    ("task.num_tasks", lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    ("task.task_dim", lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    ("model.num_heads", lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    ("train.optimizer", *_one_of(optim.OPTIMIZERS)),
    ("train.schedule", *_one_of(optim.SCHEDULES)),
)


def _get(config, path: str):
  node = config
  for part in path.split("."):
    if not hasattr(node, "keys") or part not in node:
      raise KeyError(path)
    node = node[part]
  return node


def differing_fields(stored: dict, current: dict, ignore=()) -> dict[str, tuple]:
  """{flattened key ("model.d_model"): (stored value, current value)} for the values
  that differ, in key order, less `ignore`.
  A field missing on one side (added to the model, or to train/eval/probes, after
  `stored` was written) counts as its default (``models.model_defaults``, the
  TrainSpec / EvalSpec / ProbeSpec defaults)."""
  stored, current = dict(stored), dict(current)
  name = current.get("model.name")
  defaults = {f"model.{k}": v for k, v in
              (models.model_defaults(name) if name in models.MODELS else {}).items()}
  for section, cls in (("train", TrainSpec), ("probes", ProbeSpec)):
    defaults.update({f"{section}.{f.name}": f.default for f in dataclasses.fields(cls)})
  for key, default in defaults.items():
    if key in stored or key in current:
      stored.setdefault(key, default)
      current.setdefault(key, default)
  return {k: (stored.get(k), current.get(k)) for k in sorted(set(stored) | set(current))
          if k not in ignore and stored.get(k) != current.get(k)}


def parse_lengths(text: str) -> list[int]:
  """'10,20,40' -> [10, 20, 40]."""
  return [int(t) for t in str(text).replace(" ", "").split(",") if t]


def _sweep_section(config) -> tuple[str, str]:
  sweep = config.get("sweep") or {}
  # Item access: ConfigDict.values is also a method name.
  return (str(sweep["field"] if "field" in sweep else "") or "",
          str(sweep["value_list"] if "value_list" in sweep else "") or "")


def point_config(config, axis: HparamAxis, value: float) -> ml_collections.ConfigDict:
  """A copy of `config` that trains the single point `value` (no sweep)."""
  c = config.copy_and_resolve_references()
  section, name = axis.field.split(".")
  with c.unlocked():
    c[section][name] = float(value)
    c.sweep["field"] = ""
    c.sweep["value_list"] = ""
  return c


def _resolve_sweep(config, num_seeds: int) -> HparamAxis:
  """config.sweep -> HparamAxis, or ConfigError (one line)."""
  name, text = _sweep_section(config)
  if not name:
    if text:
      raise ConfigError(f"config.sweep.value_list={text!r} is set but config.sweep.field "
                        f"is empty; allowed fields: {', '.join(SWEEPABLE)}")
    return HparamAxis(num_seeds=num_seeds)
  if name not in SWEEPABLE:
    raise ConfigError(
        f"config.sweep.field={name!r} cannot be vmapped (only numeric fields that keep "
        f"shapes); allowed: {', '.join(SWEEPABLE)}; sweep other fields with python -m "
        "icl.sweep (one program per point)")
  section, key = name.split(".")
  if key not in config[section]:
    raise ConfigError(f"config.sweep.field={name!r}: this config has no {name}")
  try:
    vals = [float(t) for t in text.replace(" ", "").split(",") if t]
  except ValueError:
    vals = []
  if not vals or len(set(vals)) != len(vals):
    raise ConfigError(f"config.sweep.value_list={text!r} is not allowed; allowed: distinct "
                      "comma-separated numbers, e.g. '1e-3,3e-3,1e-2'")
  axis = HparamAxis(field=name, values=tuple(vals), num_seeds=num_seeds)
  for v in vals:  # each sweep point must be a valid config itself
    resolve(point_config(config, axis, v), check_devices=False)
  return axis


def _typed(cls, section: str, values: dict):
  """cls(**values), an unknown field reported as a one-line ConfigError."""
  fields = {f.name for f in dataclasses.fields(cls)}
  for key in values:
    _check(key in fields, f"{section}.{key}", values[key],
           f"fields of config.{section}: {', '.join(sorted(fields))}")
  return cls(**values)


def _fit_cadences(train: TrainSpec, probes: ProbeSpec) -> tuple[TrainSpec, ProbeSpec]:
  """A run shorter than a cadence gets the cadence clamped to its length (one log
  line), so any config runs with a small train.num_steps: log_every to num_steps,
  probes.every to the longest allowed interval <= num_steps. eval_every and
  ckpt_every need no clamp (a run always evaluates and saves at its last step)."""
  n = train.num_steps
  if train.log_every > n:
    logging.info("train.log_every=%d > train.num_steps=%d: using %d", train.log_every,
                 n, n)
    train = dataclasses.replace(train, log_every=n)
  if probes.every > n:
    every = n if (n % train.log_every == 0 or train.log_every % n == 0) else train.log_every
    logging.info("probes.every=%d > train.num_steps=%d: using %d", probes.every, n, every)
    probes = dataclasses.replace(probes, every=every)
  return train, probes


def resolve(config, check_devices: bool = True) -> Spec:
  """The typed `Spec` of a ConfigDict, or ConfigError (one line: field, value,
  allowed) for a bad config.

  `check_devices=False` skips what depends on this machine (the batch split over
  `jax.device_count()`), e.g. to evaluate a run trained elsewhere."""
  if isinstance(config, Spec):
    return config
  if not isinstance(config, ml_collections.ConfigDict):
    config = ml_collections.ConfigDict(config)
  for section in ("task", "model", "train", "eval"):
    if section not in config:
      raise ConfigError(f"config has no {section!r} section")
  _check(config.task.name in tasks.TASKS, "task.name", config.task.name,
         ", ".join(map(repr, sorted(tasks.TASKS))))
  _check(config.model.name in models.MODELS, "model.name", config.model.name,
         ", ".join(map(repr, sorted(models.MODELS))))
  fields = tasks.task_fields(config.task.name)
  for key in config.task:
    _check(key == "name" or key in fields, f"task.{key}", config.task[key],
           f"fields of task {config.task.name!r}: {', '.join(sorted(fields))}")
  entry = models.MODELS[config.model.name]
  for key in config.model:
    _check(key == "name" or key in entry.fields, f"model.{key}", config.model[key],
           f"fields of model {config.model.name!r}: {', '.join(sorted(entry.fields))}")
  for path, ok, allowed in RULES:
    try:
      value = _get(config, path)
    except KeyError:
      continue
    _check(ok(value), path, value, allowed)
  # Each model and task checks its own choices (the registries know them).
  try:
    model_cfg = entry.validate(config.model)
    task = tasks.make_task(config.task)
  except (TypeError, ValueError) as e:
    raise ConfigError(" ".join(str(e).split())) from None
  train = _typed(TrainSpec, "train", dict(config.train))
  if train.log_every > train.num_steps:
    train, _ = _fit_cadences(train, ProbeSpec(every=0))
  for name in ("eval_every", "ckpt_every"):
    every = getattr(train, name)
    _check(every % train.log_every == 0 or every >= train.num_steps, f"train.{name}",
           every, f"a multiple of train.log_every={train.log_every}")
  if check_devices:
    devices = jax.device_count()
    _check(train.batch_size % devices == 0, "train.batch_size", train.batch_size,
           f"a multiple of the number of devices ({devices})")
  probes = _typed(ProbeSpec, "probes", dict(config.get("probes") or {"every": 0}))
  train, probes = _fit_cadences(train, probes)
  if probes.every:
    _check(probes.every <= train.num_steps, "probes.every", probes.every,
           f"0 (off) or at most train.num_steps={train.num_steps}")
    _check(probes.every % train.log_every == 0 or train.log_every % probes.every == 0,
           "probes.every", probes.every,
           f"a multiple or a divisor of train.log_every={train.log_every}")
  if train.weight_decay > 0:
    _check(train.optimizer != "adam", "train.optimizer", train.optimizer,
           "'adamw' or 'sgd' when train.weight_decay > 0")
  eval_values = dict(config.eval)
  try:
    lengths = parse_lengths(eval_values.get("context_lens", ""))
  except ValueError:
    lengths = [0]
  _check(all(n >= 1 for n in lengths), "eval.context_lens", eval_values.get("context_lens"),
         "comma-separated integers >= 1, e.g. '10,20,40'")
  eval_values["context_lens"] = tuple(lengths)
  if "covariate_scales" in eval_values:
    try:
      scales = [float(t) for t in str(eval_values["covariate_scales"]).replace(" ", "").split(",")
                if t]
    except ValueError:
      scales = [0.0]
    _check(all(c > 0 for c in scales), "eval.covariate_scales",
           eval_values["covariate_scales"], "comma-separated numbers > 0, e.g. '2,0.5'")
    eval_values["covariate_scales"] = tuple(scales)
  evaluation = _typed(EvalSpec, "eval", eval_values)
  axis = _resolve_sweep(config, train.num_seeds)
  source = config.to_dict() if hasattr(config, "to_dict") else dict(config)
  return Spec(seed=config.seed, overwrite=bool(config.get("overwrite", False)), task=task,
              model_name=config.model.name, model=model_cfg, train=train, eval=evaluation,
              probes=probes, sweep=axis, source=source)


def validate(config, check_devices: bool = True) -> None:
  """Raises ConfigError (one line: field, value, allowed) for a bad config."""
  resolve(config, check_devices)


def bind(spec: Spec, hparams: dict | None) -> Spec:
  """The Spec with the in-program sweep's per-model value (possibly traced, under
  vmap) substituted into its section: the task, the model config or train."""
  if not hparams:
    return spec
  (value,) = hparams.values()
  section, key = spec.sweep.field.split(".")
  if section == "task":
    return dataclasses.replace(spec, task=dataclasses.replace(spec.task, **{key: value}))
  if section == "model":
    return dataclasses.replace(spec, model=dataclasses.replace(spec.model, **{key: value}))
  return dataclasses.replace(spec, train=dataclasses.replace(spec.train, **{key: value}))
