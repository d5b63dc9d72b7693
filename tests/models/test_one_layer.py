"""The paper's one-layer model against an independent float64 numpy re-computation."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from icl.models import one_layer, predict
from icl.models.intermediates import AttnLogits, AttnWeights
from icl.tasks.regression import RegressionTask, SuperpositionTask


def make(task, heads=2, attention="softmax", linear_norm="train_len", seed=0, scale=1.0):
  return one_layer.OneLayerAttention(
      dim=task.dim, num_outputs=task.num_outputs, num_heads=heads,
      attention=attention, linear_norm=linear_norm, train_len=task.context_len,
      init_scale=scale, rngs=nnx.Rngs(params=seed))


def reference(model, batch):
  """yhat = sum_h O_h V_h Z a_h with a_h = softmax(Z^T K_h^T Q_h z_q / sqrt(D)) (or the
  linear kind), written loop by loop in float64."""
  q, k, v, o = (np.asarray(getattr(model, n)[...], np.float64)
                for n in ("query", "key", "value", "out"))
  x, y, xq = (np.asarray(batch[n], np.float64) for n in ("x", "y", "xq"))
  y = y[..., None] if y.ndim == 2 else y
  batch_size, length, _ = x.shape
  width = q.shape[-1]
  out = np.zeros((batch_size, o.shape[1]))
  for b in range(batch_size):
    z = np.concatenate([x[b], y[b]], axis=1).T  # [D, L], columns are tokens
    zq = np.concatenate([xq[b], np.zeros(y.shape[-1])])
    for h in range(q.shape[0]):
      s = z.T @ k[h].T @ q[h] @ zq / math.sqrt(width)
      if model.attention == "softmax":
        a = np.exp(s - s.max())
        a /= a.sum()
      else:
        a = s / (model.train_len if model.linear_norm == "train_len" else length)
      out[b] += o[h] @ v[h] @ z @ a
  return out[:, 0] if o.shape[1] == 1 else out


@pytest.mark.parametrize("attention,norm,heads,length", [
    ("softmax", "train_len", 2, 40), ("softmax", "train_len", 1, 7),
    ("softmax", "train_len", 8, 40), ("linear", "train_len", 2, 40),
    ("linear", "prompt_len", 3, 13), ("linear", "train_len", 2, 13)])
def test_forward_equals_formula(attention, norm, heads, length):
  task = RegressionTask()
  model = make(task, heads, attention, norm, seed=heads)
  batch = task.sample(jax.random.key(1), 16, context_len=length)
  np.testing.assert_allclose(predict(model, batch), reference(model, batch), rtol=2e-5, atol=2e-6)


def test_superposition_outputs_equal_formula():
  task = SuperpositionTask()
  model = make(task, heads=3)
  batch = task.sample(jax.random.key(2), 8)
  pred = predict(model, batch)
  assert pred.shape == (8, 2)
  np.testing.assert_allclose(pred, reference(model, batch), rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("attention", ["softmax", "linear"])
def test_causal_sequence_form_equals_query_form(attention):
  """The same layer run causally over (z_1..z_L, z_q) gives the same prediction at
  the query; so the query never attends to itself."""
  task = RegressionTask()
  model = make(task, heads=2, attention=attention,
               linear_norm="prompt_len" if attention == "linear" else "train_len")
  batch = task.sample(jax.random.key(3), 16)
  seq = model.causal_forward(batch)
  assert seq.shape == (16, 41, 1)
  np.testing.assert_allclose(seq[:, -1, 0], predict(model, batch), rtol=1e-4, atol=1e-6)


def test_query_gets_no_attention_and_weights_normalise():
  task = RegressionTask()
  model = make(task, heads=2)
  batch = task.sample(jax.random.key(4), 16)
  _, captured = nnx.capture(model, AttnWeights)(batch)
  (weights,) = jax.tree.leaves(captured)
  # One query row over the L = 40 context tokens only, summing to one.
  assert weights.shape == (16, 2, 1, 40)
  np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-5)
  # Changing the query token's own (zero) label slot cannot matter, and a context
  # token's label does: the weights are over context tokens alone.
  moved = dict(batch, y=batch["y"].at[:, 0].add(10.0))
  assert not np.allclose(predict(model, moved), predict(model, batch))


def test_merged_weights_give_the_logits():
  task = RegressionTask()
  model = make(task, heads=2)
  batch = task.sample(jax.random.key(5), 4)
  _, captured = nnx.capture(model, AttnLogits)(batch)
  (logits,) = jax.tree.leaves(captured)
  w_kq, w_ov = model.merged_weights()
  z, zq = one_layer.tokens(batch)
  expected = jnp.einsum("bld,hde,be->bhl", z, w_kq, zq)
  np.testing.assert_allclose(logits[:, :, 0], expected, rtol=1e-4, atol=1e-6)
  assert w_ov.shape == (2, 6)
  # W_OV = (O_h V_h)^T
  np.testing.assert_allclose(w_ov[1], (model.out[...][1] @ model.value[...][1])[0],
                             rtol=1e-6)


def test_pytorch_default_init():
  """U(+-1/sqrt(fan_in)): fan_in D for Q, K, V and D*H for the joint O; the variance
  of U(-b, b) is b^2/3 (checked to 5 standard errors over many draws)."""
  task = RegressionTask()
  heads, width = 8, 6
  model = make(task, heads=heads, seed=11)
  for name, fan_in in [("query", width), ("key", width), ("value", width),
                       ("out", width * heads)]:
    w = np.asarray(getattr(model, name)[...], np.float64).ravel()
    bound = 1 / math.sqrt(fan_in)
    assert np.abs(w).max() <= bound
    se = np.std(w ** 2) / math.sqrt(w.size)
    assert abs(np.mean(w ** 2) - bound ** 2 / 3) < 5 * se


def test_bad_attention_kind_is_rejected():
  with pytest.raises(ValueError, match="model.attention"):
    make(RegressionTask(), attention="relu")


def reference_jax(params, batch, attention="softmax", train_len=40):
  """The plain formula (no reassociation) in jax, float64: for gradients."""
  q, k, v, o = (params[n] for n in ("query", "key", "value", "out"))
  z, zq = one_layer.tokens(batch)
  scores = jnp.einsum("hij,blj,hik,bk->bhl", k, z, q, zq) / math.sqrt(q.shape[-1])
  a = jax.nn.softmax(scores, -1) if attention == "softmax" else scores / train_len
  out = jnp.einsum("hni,hij,blj,bhl->bn", o, v, z, a)
  return out[:, 0]


@pytest.mark.parametrize("attention,heads", [("softmax", 2), ("softmax", 8), ("linear", 2)])
def test_gradients_equal_formula(attention, heads):
  """Gradients of the MSE loss w.r.t. every parameter equal those of the plain
  formula Q_h, K_h, V_h, O_h (not reassociated), evaluated in float64."""
  task = RegressionTask()
  model = make(task, heads, attention, seed=heads)
  batch = task.sample(jax.random.key(6), 64)
  graphdef, params = nnx.split(model, nnx.Param)
  params = nnx.to_pure_dict(params)

  def loss(p):
    pred = predict(nnx.merge(graphdef, p), batch)
    return jnp.mean(jnp.square(pred - batch["yq"]))

  grads = jax.grad(loss)(params)
  with jax.enable_x64(True):
    p64 = jax.tree.map(lambda a: jnp.asarray(np.asarray(a, np.float64)), params)
    b64 = {k: jnp.asarray(np.asarray(v, np.float64)) for k, v in batch.items()}
    ref = jax.grad(lambda p: jnp.mean(jnp.square(
        reference_jax(p, b64, attention) - b64["yq"])))(p64)
    ref = jax.tree.map(np.asarray, ref)
  for name in ("query", "key", "value", "out"):
    g, r = np.asarray(grads[name], np.float64), ref[name]
    np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-5 * np.abs(r).max())
