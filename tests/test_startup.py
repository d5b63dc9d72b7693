"""icl/startup.py (garbage collection off while a command line starts) and the lazy
orbax import of icl/train/checkpoint.py: what `python -m icl.train` defers to its
training loop."""

import gc
import os
import subprocess
import sys

import pytest

from icl import startup
from tests.conftest import REPO


@pytest.fixture
def collector():
  """Restores the collector's state (and unfreezes) after a test that moves it."""
  was = gc.isenabled()
  yield
  gc.unfreeze()
  (gc.enable if was else gc.disable)()
  startup._paused = False  # pylint: disable=protected-access


def test_pause_then_resume_freezes_and_turns_collection_back_on(collector):
  gc.enable()
  startup.pause()
  assert not gc.isenabled() and startup.paused()
  startup.pause()  # a second pause changes nothing
  assert startup.paused()
  objects = [[] for _ in range(1000)]  # alive at resume: frozen
  startup.resume()
  assert gc.isenabled() and not startup.paused()
  assert gc.get_freeze_count() >= len(objects)
  startup.resume()  # resumed once only
  assert gc.isenabled()


def test_a_process_that_never_paused_is_left_alone(collector):
  gc.disable()  # e.g. a user's own setting
  startup.resume()
  assert not gc.isenabled() and gc.get_freeze_count() == 0
  startup.pause()
  assert not startup.paused()
  startup.resume()
  assert not gc.isenabled()


# `python -m icl.train`'s order (a pause before any import), with the tiny run's
# first chunk watched: collection is back on in the loop, and orbax is not imported
# until the first checkpoint is saved.
PROGRAM = """
import sys
from icl import startup
startup.pause()
import gc, json
from configs.regression import get_config
from icl.train import core, trainer
seen = []
chunk = core.train_chunk
def watched(*args, **kwargs):
  seen.append({"gc": gc.isenabled(), "frozen": gc.get_freeze_count(),
               "orbax": "orbax.checkpoint" in sys.modules})
  return chunk(*args, **kwargs)
watched.trace = chunk.trace  # the memory check traces it
core.train_chunk = watched
before = "orbax.checkpoint" in sys.modules
trainer.train_and_evaluate(get_config("tiny"), sys.argv[1])
print(json.dumps({"before": before, "seen": seen, "after": "orbax.checkpoint" in sys.modules}))
"""


def test_the_training_loop_collects_and_orbax_waits_for_the_first_save(tmp_path):
  import json
  workdir = str(tmp_path / "run")
  proc = subprocess.run([sys.executable, "-c", PROGRAM, workdir], cwd=REPO,
                        capture_output=True, text=True, timeout=300,
                        env=dict(os.environ, JAX_PLATFORMS="cpu"))
  assert proc.returncode == 0, proc.stderr[-3000:]
  out = json.loads(proc.stdout.strip().splitlines()[-1])
  assert not out["before"] and out["after"]
  first, *rest = out["seen"]  # tiny: 4 chunks of 50 steps, a checkpoint at 100
  assert len(rest) == 3
  assert first == {"gc": True, "frozen": first["frozen"], "orbax": False}
  assert first["frozen"] > 100_000  # jax, flax and the traces, frozen at the loop
  assert all(s["gc"] for s in rest) and rest[-1]["orbax"]
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["100", "200"]
