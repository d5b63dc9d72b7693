"""Training: the pure core (core.py), the driver (trainer.py) and their parts.

``from icl.train import train_and_evaluate`` is the entry point; it is loaded on
first use so that `icl.config_lib` can read `icl.train.optim`'s choices without
importing the trainer.
"""


def __getattr__(name: str):
  if name == "train_and_evaluate":
    from icl.train.trainer import train_and_evaluate
    return train_and_evaluate
  raise AttributeError(f"module 'icl.train' has no attribute {name!r}")
