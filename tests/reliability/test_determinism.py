"""Same config and seed -> identical metrics and parameters; a shorter run is a
prefix of a longer one."""

from icl.train import train_and_evaluate
from tests.reliability.common import assert_same_state, final_state, history, small


def test_two_runs_are_identical_and_a_shorter_run_is_a_prefix(tmp_path):
  a, b, short = (str(tmp_path / n) for n in ("a", "b", "short"))
  train_and_evaluate(small(), a)
  train_and_evaluate(small(), b)
  assert history(a) == history(b)
  assert [r["step"] for r in history(a)] == [10, 20, 30, 40, 50, 60]
  step_a, state_a = final_state(a)
  step_b, state_b = final_state(b)
  assert step_a == step_b == 60
  assert_same_state(state_a, state_b)

  train_and_evaluate(small(num_steps=30), short)  # only num_steps differs
  assert history(short) == history(a)[:3]
  assert "eval_loss" in history(short)[-1]
  assert_same_state(final_state(short)[1], final_state(a, step=30)[1])
