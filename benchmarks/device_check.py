"""The in-process part of benchmarks/device_check.sh: throughput and memory on one device.

  python -m benchmarks.device_check --out=$OUT/device_check.json [--tiny]

Records, on whatever device JAX picks (a GPU when one is there):
- the device, its kind and JAX's default matmul precision;
- vmapped seeds 1/16/64/256 (regression, H = 2, batch 256): steps/s, prompt-steps/s
  and the ratio to one seed (`benchmarks.harness.IclCase`, blocks interleaved);
- the heads sweep H in {1, 2, 4, 8} (regression, one seed): steps/s;
- MQAR `long` (V = 8192, T = 256, K = 16, d = 128, batch 256): steps/s with the
  loss-position read-out and with the full read-out;
- the device's peak memory after each group (``memory_stats()['peak_bytes_in_use']``,
  absent on CPU) and XLA's compiled memory of the largest seed count.
`--tiny` shrinks every size (a CPU check that the script runs end to end).
"""

from __future__ import annotations

import json
import os
import time

import jax
from absl import app, flags

from benchmarks import harness
from configs import mqar

FLAGS = flags.FLAGS


def define_flags() -> None:
  flags.DEFINE_string("out", "device_check.json", "Where to write the results (JSON).")
  flags.DEFINE_bool("tiny", False, "Tiny sizes: checks the script end to end on a CPU.")


def peak_memory() -> int | None:
  """Peak bytes in use on device 0 since the process started (None on CPU)."""
  try:
    stats = jax.devices()[0].memory_stats() or {}
  except Exception:  # noqa: BLE001 -- backends without memory_stats
    return None
  return stats.get("peak_bytes_in_use")


def timed(cases: dict, repeats: int) -> dict:
  best = harness.interleaved({k: c.block for k, c in cases.items()}, repeats)
  return {k: c.steps / best[k] for k, c in cases.items()}


def seeds(tiny: bool) -> list[dict]:
  counts = (1, 4) if tiny else (1, 16, 64, 256)
  batch = 16 if tiny else 256
  steps = 10 if tiny else 200
  cases = {n: harness.IclCase(harness.config_for(2, seeds=n, batch_size=batch), steps)
           for n in counts}
  sps = timed(cases, 2 if tiny else 3)
  rows = [{"seeds": n, "steps_per_s": sps[n], "prompt_steps_per_s": sps[n] * n * batch,
           "compile_s": max(cases[n].first_s - steps / sps[n], 0.0)} for n in counts]
  for r in rows:
    r["vs_1_seed"] = r["prompt_steps_per_s"] / rows[0]["prompt_steps_per_s"]
  rows[-1]["compiled_memory"] = cases[counts[-1]].memory()
  return rows


def heads(tiny: bool) -> list[dict]:
  hs = (1, 2) if tiny else (1, 2, 4, 8)
  steps = 10 if tiny else 500
  cases = {h: harness.IclCase(harness.config_for(h, batch_size=16 if tiny else None), steps)
           for h in hs}
  sps = timed(cases, 2 if tiny else 3)
  return [{"heads": h, "steps_per_s": sps[h]} for h in hs]


def mqar_long(tiny: bool) -> list[dict]:
  config = mqar.get_config("tiny" if tiny else "long")
  steps = 5 if tiny else 100
  rows = []
  for readout in (True, False):
    c = config.copy_and_resolve_references()
    c.train.readout_positions = readout
    t0 = time.perf_counter()
    case = harness.IclCase(c, steps)
    sps = timed({0: case}, 2)[0]
    rows.append({"readout_positions": readout, "steps_per_s": sps,
                 "first_block_s": case.first_s, "setup_s": time.perf_counter() - t0,
                 "peak_bytes_in_use": peak_memory()})
  return rows


def main(argv):
  del argv
  t0 = time.perf_counter()
  dev = jax.devices()[0]
  out = {"device": str(dev), "platform": dev.platform,
         "device_kind": getattr(dev, "device_kind", ""), "device_count": jax.device_count(),
         "jax": jax.__version__, "default_matmul_precision":
             str(jax.config.jax_default_matmul_precision), "tiny": FLAGS.tiny,
         "cpu_cores": os.cpu_count()}
  for name, fn in (("seeds", seeds), ("heads", heads), ("mqar_long", mqar_long)):
    t1 = time.perf_counter()
    try:
      out[name] = fn(FLAGS.tiny)
    except Exception as e:  # noqa: BLE001 -- recorded; the other groups still run
      out[name] = {"status": "error", "error": f"{type(e).__name__}: {e}"}
    out[f"{name}_wall_s"] = time.perf_counter() - t1
    out[f"{name}_peak_bytes_in_use"] = peak_memory()
    print(name, json.dumps(out[name], default=float)[:2000], flush=True)
  out["wall_s"] = time.perf_counter() - t0
  os.makedirs(os.path.dirname(os.path.abspath(FLAGS.out)), exist_ok=True)
  with open(FLAGS.out, "w") as f:
    json.dump(out, f, indent=1, default=float)
  print(f"wrote {FLAGS.out} in {out['wall_s']:.0f} s")


if __name__ == "__main__":
  define_flags()
  app.run(main)
