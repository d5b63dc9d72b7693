"""The PyTorch peer of the bigram-backcopy configs is faithful: on icl's parameters and
batches it computes icl's loss, and its AdamW step and schedule follow icl's optax chain
step by step; its own init draws icl's scales.

Tolerances: float32 with a different order of reductions (XLA vs ATen) agrees to a few
ulps per op; on a loss near log 64 = 4.16 that is ~1e-7 relative (measured <= 9e-7
after 6 steps, where AdamW's early sign-like updates amplify the gradients' rounding),
so 1e-5 relative leaves a margin of ten and still fails on any change of mathematics
(an LN epsilon, a missing 1/sqrt(d_h), a transposed kernel, an lr off by one step).
"""

import math

import jax
import numpy as np
import pytest

from configs import backcopy, instability
from icl.train import core, optim

torch = pytest.importorskip("torch")
tr = pytest.importorskip("benchmarks.token_reference")

TINY = "d_model=16,seq_len=16,batch=4,steps=10"
CONFIGS = {"backcopy": (backcopy, TINY),
           "instability": (instability, TINY),
           "instability:qk_norm": (instability, "qk_norm," + TINY)}
STEPS = 6  # optimizer steps compared: two of warm-up, four of the schedule after it


def tiny_config(name: str):
  module, arg = CONFIGS[name]
  config = module.get_config(arg)
  config.train.warmup_steps = 2  # the lr moves inside the compared steps
  return config


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_torch_step_follows_icl(name):
  torch.set_num_threads(1)
  config = tiny_config(name)
  exp = core.Experiment.from_config(config)
  state = exp.init_state(jax.random.key(0))
  model = tr.load_icl_params(tr.from_config(config), state["params"])
  step = tr.make_step(model, config.train)
  train_step = jax.jit(exp.train_step)
  data_key = jax.random.key(1)
  icl_losses, torch_losses = [], []
  for t in range(STEPS):  # icl's step t draws its batch from fold_in(data_key, t)
    batch = exp.task.sample(jax.random.fold_in(data_key, t), config.train.batch_size)
    state, metrics = train_step(state, data_key)
    icl_losses.append(float(metrics["train_loss"]))
    torch_losses.append(float(step(*tr.batch_to_torch(batch)).detach()))
  np.testing.assert_allclose(torch_losses, icl_losses, rtol=1e-5)
  assert icl_losses[-1] < icl_losses[0]  # the steps moved the parameters
  # and the parameters after the steps are icl's, as a whole tensor: an element whose
  # gradient is near 0 can take a sign-like Adam step of up to lr (3e-2) that differs
  # between the two roundings (seen: |diff| / |W| <= 1.1e-5 at lr 3e-2, 2e-7 at lr
  # 1e-3; a real difference of mathematics moves it by >= 1e-3). Not compared:
  # the key-norm bias, which adds q.b to every score of a query and so is ignored by
  # the softmax; its gradient is rounding noise in both, made into steps of size lr.
  after = tr.load_icl_params(tr.from_config(config), state["params"]).state_dict()
  for key, value in model.state_dict().items():
    if key.endswith("key_norm.bias"):
      continue
    a, b = value.numpy(), after[key].numpy()
    assert np.linalg.norm(a - b) <= 1e-4 * np.linalg.norm(b), key


@pytest.mark.parametrize("schedule", ["constant", "cosine", "linear"])
def test_lr_schedule_matches_optax(schedule):
  config = backcopy.get_config("steps=20")
  config.train.schedule, config.train.warmup_steps = schedule, 5
  optax_lr = optim.learning_rate_schedule(config.train)
  for t in range(25):
    # optax evaluates in float32: ~1e-7 relative of the peak, 1e-6 of a decayed lr
    assert tr.lr_at(config.train, t) == pytest.approx(float(optax_lr(t)), rel=1e-5,
                                                      abs=1e-6 * config.train.lr), t


def test_torch_init_draws_icl_scales():
  """Each tensor's spread matches icl's init (embeddings N(0, 1), LeCun kernels, read-out
  0.02, LayerNorms 1 and 0): the ratio of two sample stds of n draws has standard error
  ~1/sqrt(n), so 6/sqrt(n) (n >= 1024 here) is a 6-sigma band; a 1/fan_out for
  1/fan_in init (a factor 2 on the MLP) or a 0.02 embedding falls far outside."""
  config = instability.get_config("qk_norm,d_model=32,seq_len=32")
  icl = tr.load_icl_params(tr.from_config(config), core.Experiment.from_config(
      config).init_params(jax.random.key(0))).state_dict()
  torch.manual_seed(0)
  own = tr.from_config(config).state_dict()
  for key, value in own.items():
    a, b = value.numpy(), icl[key].numpy()
    if b.std() == 0:  # LayerNorm scale and bias
      np.testing.assert_array_equal(a, b, err_msg=key)
      continue
    assert abs(a.std() / b.std() - 1) < 6 / math.sqrt(a.size), key
    if "norm" not in key and "embed" not in key and "readout" not in key:
      bound = 2 * math.sqrt(1 / a.shape[1]) / 0.87962566  # truncated at 2 std, fan_in
      assert bound * 0.9 < np.abs(a).max() <= bound * (1 + 1e-6), key


def test_uncovered_options_are_refused():
  for items in ("sigma_reparam", "softcap", "z_loss"):
    with pytest.raises(ValueError, match="not re-implemented"):
      tr.from_config(instability.get_config(items))

