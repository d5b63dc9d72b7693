"""The paper's setting: in-context linear regression, one-layer multi-head softmax attention.

He, Pan, Chen, Yang, *In-Context Linear Regression Demystified* (ICML 2025):
d = 5, L = 40, sigma^2 = 0.1, H = 2, Adam 1e-3, batch 256.

  python -m icl.train --config=configs/regression.py --workdir=runs/h2
  python -m icl.train --config=configs/regression.py:h1 --workdir=runs/h1
  python -m icl.train --config=configs/regression.py:heads=4,attention=linear ...
  python -m icl.train --config=configs/regression.py:linear,tiny,train.lr=3e-3 ...

`--config=configs/regression.py:<items>` takes comma-separated items, applied in
order (icl/config_variants.py): a variant name, or `alias=value` / `dotted.path=value`.

Variants: default (nothing changed), h1, h2, h4, h8 (H heads), linear (linear
attention), toeplitz (Sigma_ij = rho^|i-j|), superposition (N = 2 regression tasks
sharing x, read by 3 heads), tiny (a few hundred steps, for tests).
Aliases: heads (model.num_heads), attention (model.attention), dim (task.dim),
context_len (task.context_len), noise_var (task.noise_var), covariance
(task.covariance), steps (train.num_steps), lr (train.lr), batch
(train.batch_size), seeds (train.num_seeds).
"""

from icl import config_lib
from icl import config_variants


def _heads(num_heads: int):
  def variant(c):
    c.model.num_heads = num_heads
  return variant


def _linear(c):
  c.model.attention = "linear"


def _toeplitz(c):
  c.task.covariance = "toeplitz"


def _superposition(c):
  for field in ("prior_scale", "prior_mean", "covariance", "rho", "cov_min", "cov_max",
                "cov_diag", "covariates", "input_range"):
    del c.task[field]
  c.task.name = "superposition"
  c.task.dim = 6
  c.task.context_len = 48
  c.task.num_tasks = 2  # N: tasks sharing x
  c.task.task_dim = 4  # coordinates each task reads
  c.task.task_stride = 2  # task i reads x[i*stride : i*stride + task_dim]
  c.model.num_heads = 3


def _tiny(c):
  c.train.num_steps = 200
  c.train.log_every = 50
  c.train.eval_every = 100
  c.train.ckpt_every = 100
  c.eval.num_prompts = 2048
  c.eval.context_lens = "10,40"
  c.probes.every = 10  # within any test run of >= 10 steps
  c.probes.num_prompts = 128


VARIANTS = {
    "default": lambda c: None,
    "h1": _heads(1),
    "h2": _heads(2),
    "h4": _heads(4),
    "h8": _heads(8),
    "linear": _linear,
    "toeplitz": _toeplitz,
    "superposition": _superposition,
    "tiny": _tiny,
}
ALIASES = {
    "heads": "model.num_heads",
    "attention": "model.attention",
    "dim": "task.dim",
    "context_len": "task.context_len",
    "noise_var": "task.noise_var",
    "covariance": "task.covariance",
    **config_variants.TRAIN_ALIASES,
}


def get_config(arg: str | None = None):
  c = config_lib.base_config()

  c.task.name = "regression"
  c.task.dim = 5  # d: covariate dimension
  c.task.context_len = 40  # L: examples per prompt
  c.task.noise_var = 0.1  # sigma^2 of the label noise (context and query)
  c.task.prior_scale = 1.0  # beta ~ N(prior_mean, prior_scale^2 I/d)
  c.task.prior_mean = 0.0  # the mean of every coordinate of beta
  c.task.covariance = "isotropic"  # 'isotropic', 'toeplitz', 'diag_linspace' or 'diag'
  c.task.rho = 0.5  # Toeplitz correlation
  c.task.cov_min = 0.2  # 'diag_linspace': Sigma = diag(linspace(cov_min, cov_max, d))
  c.task.cov_max = 2.0
  c.task.cov_diag = ""  # 'diag': Sigma = diag of these d comma-separated variances
  c.task.covariates = "gaussian"  # 'gaussian' or 'uniform' (U(-r/2, r/2)^d, isotropic)
  c.task.input_range = 1.0  # r of the uniform covariates

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

  return config_variants.apply(c, arg, VARIANTS, ALIASES)
