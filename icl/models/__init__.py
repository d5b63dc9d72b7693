"""Models, one file each, looked up by name in `MODELS`.

``MODELS[name]`` is a `icl.models.base.ModelEntry`: the model's config dataclass,
builder, merged-weights function and extra checks. ``MODELS[name](config.model,
task, rngs) -> nnx.Module``; the module's ``__call__(batch)`` returns the prediction
the task's loss takes. Attention layers `sow` their weights and logits through
`icl.models.intermediates`. Adding a model is one file and one line here (or a
`register` call).
"""

from icl.models import gpt2
from icl.models import lsa
from icl.models import one_layer
from icl.models import transformer
from icl.models.base import ModelEntry

MODELS: dict[str, ModelEntry] = {
    "lsa": lsa.ENTRY,
    "one_layer": one_layer.ENTRY,
    "transformer": transformer.ENTRY,
    "gpt2": gpt2.ENTRY,
}


def register(name: str, entry: ModelEntry) -> ModelEntry:
  """Adds a model under `name`; returns the entry."""
  if not isinstance(entry, ModelEntry):
    raise TypeError(f"model {name!r}: register an icl.models.base.ModelEntry")
  MODELS[name] = entry
  return entry


def model_fields(name: str) -> frozenset[str]:
  """The config.model fields (besides `name`) that model `name` reads."""
  return frozenset(MODELS[name].fields)


def model_defaults(name: str) -> dict:
  """The defaults of model `name`'s config fields (a stored config that lacks a
  field had this value)."""
  return MODELS[name].defaults


def predict(model, batch):
  """The model's prediction, run through `nnx.capture` so its `sow`s are recorded
  nowhere (a bare call would use the deprecated sow-outside-capture path)."""
  from flax import nnx
  return nnx.capture(model)(batch)
