"""The paper's setting: in-context linear regression, one-layer multi-head softmax attention.

He, Pan, Chen, Yang, *In-Context Linear Regression Demystified* (ICML 2025):
d = 5, L = 40, sigma^2 = 0.1, H = 2, Adam 1e-3, batch 256.

  python -m icl.train --config=configs/regression.py --workdir=runs/h2
  python -m icl.train --config=configs/regression.py:h1 --workdir=runs/h1
  python -m icl.train --config=configs/regression.py --config.model.num_heads=4 ...

Variants (`--config=configs/regression.py:<variant>`): default, h1, h4, h8, linear,
toeplitz, superposition, tiny (a few hundred steps, for tests).
"""

from icl import config_lib


def get_config(variant: str | None = None):
  c = config_lib.base_config()

  c.task.name = "regression"
  c.task.dim = 5  # d: covariate dimension
  c.task.context_len = 40  # L: examples per prompt
  c.task.noise_var = 0.1  # sigma^2 of the label noise (context and query)
  c.task.prior_scale = 1.0  # beta ~ N(prior_mean, prior_scale^2 I/d)
  c.task.prior_mean = 0.0  # the mean of every coordinate of beta
  c.task.covariance = "isotropic"  # 'isotropic' or 'toeplitz' (Sigma_ij = rho^|i-j|)
  c.task.rho = 0.5  # Toeplitz correlation

  c.model.name = "one_layer"
  c.model.num_heads = 2  # H
  c.model.attention = "softmax"  # 'softmax' or 'linear'
  c.model.linear_norm = "train_len"  # linear attention divides by: 'train_len' or 'prompt_len'
  c.model.init_scale = 1.0  # multiplies the PyTorch-default U(+-1/sqrt(fan_in)) init

  c.train.num_steps = 10_000  # converged by ~5k (paper: 500k, later steps only drift)
  c.train.eval_every = 2_500
  c.train.ckpt_every = 2_500
  c.train.batch_size = 256
  c.train.lr = 1e-3

  c.eval.context_lens = "10,20,40,60,80,100"
  c.probes.every = 100  # the patterns emerge within the first ~2k steps

  variant = variant or "default"
  if variant == "default":
    pass
  elif variant in ("h1", "h2", "h4", "h8"):
    c.model.num_heads = int(variant[1:])
  elif variant == "linear":
    c.model.attention = "linear"
  elif variant == "toeplitz":
    c.task.covariance = "toeplitz"
  elif variant == "superposition":
    for field in ("prior_scale", "prior_mean", "covariance", "rho"):
      del c.task[field]
    c.task.name = "superposition"
    c.task.dim = 6
    c.task.context_len = 48
    c.task.num_tasks = 2  # N: tasks sharing x
    c.task.task_dim = 4  # coordinates each task reads
    c.task.task_stride = 2  # task i reads x[i*stride : i*stride + task_dim]
    c.model.num_heads = 3
  elif variant == "tiny":
    c.train.num_steps = 200
    c.train.log_every = 50
    c.train.eval_every = 100
    c.train.ckpt_every = 100
    c.eval.num_prompts = 2048
    c.eval.context_lens = "10,40"
    c.probes.every = 10  # within any test run of >= 10 steps
    c.probes.num_prompts = 128
  else:
    raise ValueError(
        f"config variant {variant!r}; allowed: default, h1, h2, h4, h8, linear, "
        "toeplitz, superposition, tiny")
  return c
