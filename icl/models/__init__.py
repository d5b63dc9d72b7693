"""Models, one file each, looked up by name in `MODELS`.

``MODELS[name](model_config, task, rngs) -> nnx.Module``; the module's
``__call__(batch)`` returns the prediction the task's loss takes. Attention layers
`sow` their weights and logits through `icl.models.intermediates`.
"""

from icl.models import one_layer
from icl.models import transformer

MODELS = {
    "one_layer": one_layer.build,
    "transformer": transformer.build,
}

# name -> function(model_config) raising ValueError (one line) on a bad field.
VALIDATORS = {
    "one_layer": one_layer.validate_config,
    "transformer": transformer.validate_config,
}


def validate_model_config(model_config) -> None:
  """Checks ``config.model`` against the fields and choices of the named model."""
  VALIDATORS[model_config.name](model_config)


def _module_attr(name: str, attr: str):
  """`attr` of the module that defines model `name`'s builder (None if absent)."""
  import sys
  return getattr(sys.modules[MODELS[name].__module__], attr, None)


def model_fields(name: str) -> frozenset[str] | None:
  """The config.model fields (besides `name`) that model `name` reads: the
  `FIELDS` of its module; None when the module declares none (not checked)."""
  fields = _module_attr(name, "FIELDS")
  return None if fields is None else frozenset(fields)


def model_defaults(name: str) -> dict:
  """The defaults of model `name`'s config fields: the `DEFAULTS` of its module ({} when
  it declares none). A stored config that lacks a field had this value."""
  return dict(_module_attr(name, "DEFAULTS") or {})


def predict(model, batch):
  """The model's prediction, run through `nnx.capture` so its `sow`s are recorded
  nowhere (a bare call would use the deprecated sow-outside-capture path)."""
  from flax import nnx
  return nnx.capture(model)(batch)
