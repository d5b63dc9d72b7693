"""Linear self-attention (LSA) vs gradient descent on in-context linear regression.

docs/linear_gd.md ("Targets" T2-T9): von Oswald et al. 2023, Ahn et al. 2023, Zhang,
Frei & Bartlett 2024, and Xie, Yuan, Rossi & Hannagan (arXiv 2512.04268; the
nonzero prior mean and the initial guess, as reconstructed there). Default: d = n =
10, w ~ N(0, I/d), x ~ N(0, I), no noise, one masked linear head (the `lsa` model),
Adam 1e-3 with 200 warm-up steps and cosine decay, batch 2048, 4000 steps.

  python -m icl.train --config=configs/linear_gd.py:t2 --workdir=runs/lgd_t2
  python -m icl.train --config=configs/linear_gd.py:t7,heads=6 --workdir=runs/lgd_t7_h6
  python -m icl.train --config=configs/linear_gd.py:t8 --workdir=runs/lgd_t8
  python -m icl.train --config=configs/linear_gd.py:t4,layers=2,steps=20000 ...
  python -m icl.train --config=configs/linear_gd.py:t6,layers=2 --workdir=runs/lgd_t6_k2
  python -m icl.evaluate.linear_gd --workdir=runs/lgd_t5  # + eval.context_lens, covariate_scales

`--config=configs/linear_gd.py:<items>` takes comma-separated items, applied in
order (icl/config_variants.py): a variant name, or `alias=value` / `dotted.path=value`.

Variants: default and t2 (one head learns one-step GD, Gamma = 0.476 I, R = 11/21),
t3 (Sigma = diag(linspace(0.2, 2, 10)): Gamma* recovery), t4 (von Oswald et al.: x ~
U(-1/2, 1/2), w ~ N(0, I), W_Q/W_K/W_V/P, no 1/n, minus readout, Adam b2 = 0.98;
their loss is 1/2 MSE), t5 (Zhang, Frei & Bartlett: d = 5, N = 20, Lambda =
diag(.25, .5, 1, 1.5, 2), unmasked, their balanced init, SGD 0.025 on the MSE = 0.05
on 1/2 MSE, batch 4096, 6000 steps), t6 (Ahn et al.: d = 5, n = 20, w ~ N(0, I),
their restricted class KQ = [[A, 0], [0, 0]], PV = [[B, 0], [0, 1]], minus readout,
Adam 2e-3, 6000 steps; `layers=K` for K layers against K steps of GD), t7 (prior mean mu = 1/sqrt(d) 1, sigma^2 = 0.1,
yhat0 = 0; sweep heads), t8 (t7 with the trainable guess theta^T x_q: y_q-LSA), scalar
(t7 with a trained constant guess; compose after t7), t9 (noiseless: sigma^2 = 0;
compose after t7 or t8), tiny (a few hundred steps, for tests).
Aliases: heads (model.num_heads), layers (model.num_layers), guess (model.guess),
masked (model.masked), dim (task.dim), context_len (task.context_len), noise_var
(task.noise_var), prior_mean (task.prior_mean), covariance (task.covariance), steps
(train.num_steps), lr (train.lr), batch (train.batch_size), seeds (train.num_seeds).
"""

import math

from icl import config_lib
from icl import config_variants
from icl.models import lsa


def _t3(c):
  c.task.covariance = "diag_linspace"
  c.task.cov_min = 0.2
  c.task.cov_max = 2.0


def _t4(c):
  c.task.covariates = "uniform"
  c.task.input_range = 1.0  # the authors' code: U(-0.5, 0.5) (the paper says U(-1, 1))
  c.task.prior_scale = math.sqrt(c.task.dim)  # w ~ N(0, I)
  c.model.param = "qkv"
  c.model.norm = "none"
  c.model.readout = "minus"
  c.model.shared = True  # recurrent (deq) for K layers; one layer is the same either way
  c.model.init_std = math.sqrt(0.002 / (c.task.dim + 1))  # VarianceScaling(0.002), fan-in 11
  c.train.b2 = 0.98
  c.train.warmup_steps = 0
  c.train.schedule = "constant"
  c.train.num_steps = 5000


def _t5(c):
  c.task.dim = 5
  c.task.context_len = 20
  c.task.covariance = "diag"
  c.task.cov_diag = "0.25,0.5,1,1.5,2"
  c.task.prior_scale = math.sqrt(5)  # w ~ N(0, I)
  c.model.masked = False
  c.model.init = "zfb"
  c.model.init_std = 0.1
  c.train.optimizer = "sgd"
  c.train.lr = 0.025  # the MSE's gradient is twice the 1/2 MSE's: ZFB's 0.05
  c.train.schedule = "constant"
  c.train.warmup_steps = 0
  c.train.batch_size = 4096
  c.train.num_steps = 6000
  c.eval.context_lens = "5,10,20,40,80"
  c.eval.covariate_scales = "2,0.5"


def _t6(c):
  c.task.dim = 5
  c.task.context_len = 20
  c.task.prior_scale = math.sqrt(5)  # w ~ N(0, I)
  c.model.param = "ahn"  # KQ = [[A, 0], [0, 0]], PV = [[B, 0], [0, 1]]
  c.model.readout = "minus"
  c.model.init_std = 1e-3
  c.train.lr = 2e-3
  c.train.num_steps = 6000


def _t7(c):
  c.task.prior_mean = 1 / math.sqrt(c.task.dim)  # |mu| = 1
  c.task.noise_var = 0.1


def _t8(c):
  _t7(c)
  c.model.guess = "theta"


def _scalar(c):
  c.model.guess = "scalar"


def _t9(c):
  c.task.noise_var = 0.0


def _tiny(c):
  c.train.num_steps = 200
  c.train.warmup_steps = 20
  c.train.batch_size = 512
  c.train.log_every = 50
  c.train.eval_every = 100
  c.train.ckpt_every = 100
  c.eval.num_prompts = 2048
  c.eval.context_lens = "5,10"
  c.probes.every = 50
  c.probes.num_prompts = 128


VARIANTS = {
    "default": lambda c: None,
    "t2": lambda c: None,
    "t3": _t3,
    "t4": _t4,
    "t5": _t5,
    "t6": _t6,
    "t7": _t7,
    "t8": _t8,
    "scalar": _scalar,
    "t9": _t9,
    "tiny": _tiny,
}
ALIASES = {
    "heads": "model.num_heads",
    "layers": "model.num_layers",
    "guess": "model.guess",
    "masked": "model.masked",
    "dim": "task.dim",
    "context_len": "task.context_len",
    "noise_var": "task.noise_var",
    "prior_mean": "task.prior_mean",
    "covariance": "task.covariance",
    **config_variants.TRAIN_ALIASES,
}


def get_config(arg: str | None = None):
  c = config_lib.base_config()

  c.task.name = "regression"
  c.task.dim = 10  # d
  c.task.context_len = 10  # n
  c.task.noise_var = 0.0  # sigma^2
  c.task.prior_scale = 1.0  # w ~ N(prior_mean 1, prior_scale^2 I / d): tau^2 = 1/d
  c.task.prior_mean = 0.0  # every coordinate of mu
  c.task.covariance = "isotropic"  # 'isotropic', 'toeplitz', 'diag_linspace' or 'diag'
  c.task.rho = 0.5  # Toeplitz correlation
  c.task.cov_min = 0.2  # 'diag_linspace': Sigma = diag(linspace(cov_min, cov_max, d))
  c.task.cov_max = 2.0
  c.task.cov_diag = ""  # 'diag': the d comma-separated variances
  c.task.covariates = "gaussian"  # 'gaussian' or 'uniform' (U(-r/2, r/2)^d)
  c.task.input_range = 1.0  # r of the uniform covariates

  c.model.name = "lsa"
  c.model.update(config_variants.dataclass_fields_config(lsa.LSAConfig))

  c.train.num_steps = 4000
  c.train.batch_size = 2048
  c.train.lr = 1e-3
  c.train.schedule = "cosine"
  c.train.warmup_steps = 200
  c.train.log_every = 500
  c.train.eval_every = 1000
  c.train.ckpt_every = 1000

  c.eval.num_prompts = 200_000  # SE ~ 0.3% of the risk
  c.eval.batch_size = 10_000
  c.eval.context_lens = ""
  c.eval.covariate_scales = ""  # c of Sigma_test = c Sigma (icl.evaluate.linear_gd)
  c.probes.every = 500
  c.probes.num_prompts = 2048
  c.probes.snapshots = 8

  return config_variants.apply(c, arg, VARIANTS, ALIASES)
