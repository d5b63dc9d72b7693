"""Where a sweep's points run: this machine (in turn, or a process pool) or Ray.

Every backend runs the same unit, `grid.run_point(config_dict, workdir)`, on the
points that are not finished, and reports {name: error or None}. A point that fails
does not stop the others; the sweep reports it at the end.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import time
from typing import Callable

from absl import logging

from icl.sweep import grid

Report = Callable[[str, str], None]  # (point name, message)


def run_local(points: list[grid.Point], parallel: int, report: Report) -> dict:
  """In this process one after another (parallel=1), else a pool of `parallel`
  fresh processes (spawned, so each has its own JAX runtime)."""
  errors = {}
  if parallel <= 1:
    for p in points:
      report(p.name, "running")
      try:
        out = grid.run_point(p.config.to_dict(), p.workdir)
        report(p.name, f"done in {out['seconds']:.0f}s, eval_loss {out['eval_loss']:.4f}")
        errors[p.name] = None
      except Exception as e:  # noqa: BLE001 - reported per point, the sweep goes on
        errors[p.name] = f"{type(e).__name__}: {e}"
        report(p.name, "failed: " + errors[p.name])
    return errors
  context = multiprocessing.get_context("spawn")
  with concurrent.futures.ProcessPoolExecutor(parallel, mp_context=context) as pool:
    futures = {pool.submit(grid.run_point, p.config.to_dict(), p.workdir): p.name
               for p in points}
    for p in points:
      report(p.name, "submitted")
    for future in concurrent.futures.as_completed(futures):
      errors.update(_collect(futures[future], future.result, report))
  return errors


def _collect(name: str, result: Callable, report: Report) -> dict:
  try:
    out = result()
  except Exception as e:  # noqa: BLE001
    message = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    report(name, "failed: " + message)
    return {name: message}
  report(name, f"done in {out['seconds']:.0f}s, eval_loss {out['eval_loss']:.4f}")
  return {name: None}


def run_ray(points: list[grid.Point], address: str, num_cpus: float, num_gpus: float,
            report: Report) -> dict:
  """One Ray task per point on the cluster at `address` ('' = start a local Ray on
  this machine; 'auto' = the cluster this machine belongs to). The work dir must be
  on a file system that every Ray node sees, and `icl` importable on every node."""
  try:
    import ray
  except ImportError:
    raise grid.SweepError("--backend=ray needs Ray: pip install 'icl[ray]'") from None
  if not ray.is_initialized():
    ray.init(address=address or None, log_to_driver=False)
  remote = ray.remote(num_cpus=num_cpus, num_gpus=num_gpus, max_retries=0)(
      grid.run_point)
  refs = {remote.remote(p.config.to_dict(), p.workdir): p.name for p in points}
  for p in points:
    report(p.name, "submitted to Ray")
  errors = {}
  pending = list(refs)
  while pending:
    done, pending = ray.wait(pending, num_returns=1, timeout=None)
    for ref in done:
      errors.update(_collect(refs[ref], lambda r=ref: ray.get(r), report))
  logging.info("Ray sweep finished at %s", time.strftime("%H:%M:%S"))
  return errors


BACKENDS = ("local", "ray")
