"""The config schema shared by every experiment, and its validation.

Each file in `configs/` starts from `base_config()` and fills in `task` and `model`.
Every field has a default and a one-line comment; `validate()` checks a resolved
config in one place, before anything compiles, and raises `ConfigError` with one
line naming the field, its value and what is allowed.
"""

from __future__ import annotations

import ml_collections


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
  c.train.optimizer = "adam"  # 'adam', 'adamw' or 'sgd'
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
  c.train.skip_nonfinite = False  # drop a step whose loss/grads are non-finite (else stop)

  c.eval = ml_collections.ConfigDict()
  c.eval.num_prompts = 20_000  # fresh prompts per evaluation
  c.eval.batch_size = 4_096  # prompts per evaluation chunk (bounds memory)
  c.eval.context_lens = ""  # comma-separated lengths for icl.evaluate ('' = training length)

  c.probes = ml_collections.ConfigDict()  # icl/probes, keys in docs/probes.md
  c.probes.every = 1_000  # steps between probes inside the training scan; 0 = off
  c.probes.num_prompts = 512  # prompts in the fixed probe batch
  c.probes.snapshots = 24  # log-spaced steps whose W_KQ / W_OV go to snapshots/

  c.sweep = ml_collections.ConfigDict()  # one program, several values (docs/sweeps.md)
  c.sweep.field = ""  # '' = off; a numeric shape-keeping field, e.g. 'train.lr'
  c.sweep.value_list = ""  # comma-separated values of sweep.field, e.g. '1e-3,3e-3'
  return c


# --- validation -------------------------------------------------------------------

def _check(ok: bool, field: str, value, allowed: str) -> None:
  if not ok:
    raise ConfigError(f"config.{field}={value!r} is not allowed; allowed: {allowed}")


def _is_int(v) -> bool:
  return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
  return isinstance(v, (int, float)) and not isinstance(v, bool)


# (field, predicate, description of the allowed values); a rule applies when the
# field exists in the config. Choice fields are checked against their registries
# in `validate`.
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
    ("train.skip_nonfinite", lambda v: isinstance(v, bool), "True or False"),
    ("probes.every", lambda v: _is_int(v) and v >= 0, "an integer >= 0 (0 = off)"),
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
    ("task.covariance", lambda v: v in ("isotropic", "toeplitz"), "'isotropic', 'toeplitz'"),
    ("task.num_tasks", lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    ("task.task_dim", lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    ("model.num_heads", lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    ("train.optimizer", lambda v: v in ("adam", "adamw", "sgd"), "'adam', 'adamw', 'sgd'"),
    ("train.schedule", lambda v: v in ("constant", "cosine", "linear"),
     "'constant', 'cosine', 'linear'"),
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
  A model field missing on one side (e.g. added to the model after `stored` was
  written) counts as the model's default (``models.model_defaults``)."""
  from icl import models  # the registry; imported late to keep this module light
  stored, current = dict(stored), dict(current)
  name = current.get("model.name")
  for field, default in (models.model_defaults(name) if name in models.MODELS else {}).items():
    stored.setdefault(f"model.{field}", default)
    current.setdefault(f"model.{field}", default)
  return {k: (stored.get(k), current.get(k)) for k in sorted(set(stored) | set(current))
          if k not in ignore and stored.get(k) != current.get(k)}


def parse_lengths(text: str) -> list[int]:
  """'10,20,40' -> [10, 20, 40]."""
  return [int(t) for t in str(text).replace(" ", "").split(",") if t]


def validate(config, check_devices: bool = True) -> None:
  """Raises ConfigError (one line: field, value, allowed) for a bad config.

  `check_devices=False` skips what depends on this machine (the batch split over
  `jax.device_count()`), e.g. to evaluate a run trained elsewhere."""
  from icl import models, tasks  # registries; imported late to keep this module light

  _check(config.task.name in tasks.TASKS, "task.name", config.task.name,
         ", ".join(map(repr, sorted(tasks.TASKS))))
  _check(config.model.name in models.MODELS, "model.name", config.model.name,
         ", ".join(map(repr, sorted(models.MODELS))))
  fields = tasks.task_fields(config.task.name)
  for key in config.task:
    _check(key == "name" or key in fields, f"task.{key}", config.task[key],
           f"fields of task {config.task.name!r}: {', '.join(sorted(fields))}")
  fields = models.model_fields(config.model.name)
  for key in config.model:
    _check(fields is None or key == "name" or key in fields, f"model.{key}",
           config.model[key],
           f"fields of model {config.model.name!r}: {', '.join(sorted(fields or ()))}")
  for path, ok, allowed in RULES:
    try:
      value = _get(config, path)
    except KeyError:
      continue
    _check(ok(value), path, value, allowed)
  # Each model and task checks its own choices (the registries know them).
  try:
    models.validate_model_config(config.model)
    tasks.make_task(config.task)
  except (TypeError, ValueError) as e:
    raise ConfigError(" ".join(str(e).split())) from None
  train = config.train
  for name in ("eval_every", "ckpt_every"):
    every = train[name]
    _check(every % train.log_every == 0 or every >= train.num_steps, f"train.{name}",
           every, f"a multiple of train.log_every={train.log_every}")
  if check_devices:
    import jax  # late: the device count is only known once a backend is up
    devices = jax.device_count()
    _check(train.batch_size % devices == 0, "train.batch_size", train.batch_size,
           f"a multiple of the number of devices ({devices})")
  every = config.get("probes", {}).get("every", 0)
  if every:
    _check(every <= train.num_steps, "probes.every", every,
           f"0 (off) or at most train.num_steps={train.num_steps}")
    _check(every % train.log_every == 0 or train.log_every % every == 0,
           "probes.every", every,
           f"a multiple or a divisor of train.log_every={train.log_every}")
  if train.weight_decay > 0:
    _check(train.optimizer != "adam", "train.optimizer", train.optimizer,
           "'adamw' or 'sgd' when train.weight_decay > 0")
  try:
    lengths = parse_lengths(config.eval.context_lens)
  except ValueError:
    lengths = [0]
  _check(all(n >= 1 for n in lengths), "eval.context_lens", config.eval.context_lens,
         "comma-separated integers >= 1, e.g. '10,20,40'")
  from icl.train import hparams  # each sweep point must be a valid config itself
  hparams.check(config, validate)
