"""Linear-attention associative memory: the crosstalk closed form against Monte Carlo,
and the recall accuracy's exact value at K = 1 and its direction in K and d_k."""

import jax
import pytest

from theory import associative_memory as am

Z = 4.0  # standard errors of margin


@pytest.mark.parametrize("dim,pairs", [(8, 4), (16, 16), (32, 8)])
def test_crosstalk_is_pairs_minus_one_over_dk(dim, pairs):
  mc = am.hebbian_recall(jax.random.key(dim + pairs), dim, pairs, num_prompts=2048)
  want = am.crosstalk(dim, pairs)
  assert abs(float(mc["crosstalk"]) - want) < Z * float(mc["crosstalk_se"]), (mc, want)


def test_recall_is_exact_for_one_pair_and_falls_with_pairs_per_dimension():
  # K = 1: M k = v exactly, and v·v = 1 > u·v for every other unit u, almost surely.
  assert float(am.hebbian_recall(jax.random.key(0), 8, 1, num_prompts=256)["acc"]) == 1.0
  acc = {(d, k): am.hebbian_recall(jax.random.key(1), d, k, num_prompts=1024)
         for d, k in [(16, 4), (16, 16), (32, 16)]}
  gap = lambda a, b: float(acc[a]["acc"] - acc[b]["acc"])
  se = lambda a, b: float((acc[a]["acc_se"] ** 2 + acc[b]["acc_se"] ** 2) ** 0.5)
  assert gap((16, 4), (16, 16)) > Z * se((16, 4), (16, 16))  # more pairs, same state
  assert gap((32, 16), (16, 16)) > Z * se((32, 16), (16, 16))  # same pairs, larger state
