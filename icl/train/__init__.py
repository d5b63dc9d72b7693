"""Training: `train_and_evaluate(config, workdir)`; `python -m icl.train`."""

from icl.train.trainer import train_and_evaluate

__all__ = ["train_and_evaluate"]
