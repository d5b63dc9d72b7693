"""Models, looked up by name in `MODELS`.

``MODELS[name](model_config, task, rngs) -> nnx.Module``; the module's
``__call__(batch) -> pred`` takes the whole batch dict (token tasks: logits [B, T, V]).
"""

from icl.models import transformer

MODELS = {
    "transformer": transformer.build,
}
