"""Where the models of one program live: the model axis (or the batch) over devices.

A program trains M = (sweep points) x (seeds) models; every leaf of the training
state has a leading model axis [M, ...]. The layout, chosen from M, the batch size
and the visible devices (all of them: one CPU, 8 GPUs, a TPU slice, or every host's
devices after ``jax.distributed.initialize()``):

  * M > 1: the model axis is sharded, ``P("data")``, over the largest number of
    devices that divides M (all of them when M is a multiple of the device count).
    Models never communicate, so the program runs without collectives.
  * M = 1: the state is replicated, ``P()``, and the training batch [B, ...] of each
    step is sharded over the devices that divide B (data parallelism; the gradient
    mean becomes an all-reduce that XLA inserts).

The mesh has one axis, "data", of type Auto, so the vmapped core and host-side
slicing work unchanged (the Explicit axis type does not compose with vmap here).
All functions take a resolved `icl.config_lib.Spec` and are no-ops on one device.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import numpy as np
from jax.sharding import AxisType, NamedSharding, PartitionSpec as P

AXIS = "data"


@functools.lru_cache(maxsize=None)
def mesh(num_devices: int) -> jax.sharding.Mesh:
  """A one-axis ("data") mesh over the first `num_devices` visible devices."""
  devices = jax.devices()
  if num_devices == len(devices):
    return jax.make_mesh((num_devices,), (AXIS,), axis_types=(AxisType.Auto,))
  return jax.make_mesh((num_devices,), (AXIS,), axis_types=(AxisType.Auto,),
                       devices=devices[:num_devices])


def shard_count(size: int) -> int:
  """Devices an axis of `size` is split over: the largest divisor of both."""
  return math.gcd(size, jax.device_count())


def model_sharding(spec) -> NamedSharding | None:
  """Sharding of arrays with a leading model axis [M, ...]: split over devices when
  M > 1, replicated over the batch's devices when M = 1 (None: one device)."""
  m = spec.num_models
  if m == 1:
    batch = batch_sharding(spec)
    return None if batch is None else NamedSharding(batch.mesh, P())
  n = spread(spec)
  return None if n <= 1 else NamedSharding(mesh(n), P(AXIS))


def spread(spec) -> int:
  """Devices one program is split over: its models' (M > 1), else its training
  batch's (the layouts of the module docstring)."""
  return shard_count(spec.num_models if spec.num_models > 1 else spec.train.batch_size)


def batch_sharding(spec) -> NamedSharding | None:
  """Sharding of a training batch's leading axis when the program has one model."""
  if spec.num_models != 1:
    return None
  n = spread(spec)
  return None if n <= 1 else NamedSharding(mesh(n), P(AXIS))


def over_models(fn, *args) -> Any:
  """`jax.vmap(fn)(*args)` over the leading model axis [M, ...] of every leaf. With
  one model (one seed, no in-program sweep: the default run) `fn` runs on that
  model alone and the axis is put back on its outputs: the same values to float
  rounding, from a program without batch dimensions, whose trace takes about a
  quarter of the vmapped one's (part of every start-up) and whose XLA:CPU training
  chunk ran 1.1-1.2x faster (benchmarks/RESULTS.md, "One model without vmap")."""
  sizes = {x.shape[0] for x in jax.tree.leaves(args)}
  if sizes != {1}:
    return jax.vmap(fn)(*args)
  alone = fn(*(jax.tree.map(lambda x: x[0], a) for a in args))
  return jax.tree.map(lambda x: x[None], alone)


def _constrain(tree: Any, sharding: NamedSharding | None) -> Any:
  if sharding is None:
    return tree
  return jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, sharding), tree)


def constrain_models(tree: Any, spec) -> Any:
  """Inside jit: every leaf's leading model axis sharded (see module docstring)."""
  return _constrain(tree, model_sharding(spec))


def constrain_batch(batch: Any, spec) -> Any:
  """Inside jit (also under vmap): a single model's batch sharded over devices."""
  return _constrain(batch, batch_sharding(spec))


def shared_sharding(spec) -> NamedSharding | None:
  """Sharding of arrays every model reads (the evaluation prompts): replicated over
  the program's devices (None: one device)."""
  n = spread(spec)
  return None if n <= 1 else NamedSharding(mesh(n), P())


def constrain_shared(tree: Any, spec) -> Any:
  """Inside jit: every leaf laid out by `shared_sharding`."""
  return _constrain(tree, shared_sharding(spec))


def put_models(tree: Any, spec) -> Any:
  """Outside jit: place arrays with a leading model axis (keys, restored states)."""
  sharding = model_sharding(spec)
  if sharding is None:
    return tree
  if sharding.is_fully_addressable:
    return jax.device_put(tree, sharding)
  return jax.tree.map(lambda x: _put_global(x, sharding), tree)


def _put_global(x: jax.Array, sharding: NamedSharding) -> jax.Array:
  """Multi-process: `x` is the same whole array on every process (computed from
  the config); each process places only its own devices' shards. (device_put
  refuses PRNG key arrays and committed arrays for a sharding that spans other
  processes' devices.)"""
  if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
    data = _put_global(jax.random.key_data(x), sharding)
    return jax.random.wrap_key_data(data, impl=jax.random.key_impl(x))
  host = np.asarray(x)
  return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def to_host(x: jax.Array) -> np.ndarray:
  """A (possibly multi-host) array as one numpy array on every process."""
  if getattr(x, "is_fully_addressable", True):
    return np.asarray(x)
  from jax.experimental import multihost_utils
  return np.asarray(multihost_utils.process_allgather(x, tiled=True))


def is_primary() -> bool:
  """Process 0 writes the work dir; the other hosts only compute (multi-host)."""
  return jax.process_index() == 0
