"""The token-model sections: icl's transformer beside PyTorch peers (Zoology's MQAR code,
a re-implementation for the backcopy configs), and the cost of the transformer's
backward pass and its achieved FLOP/s.

- token_peers: configs/mqar.py (V = 512, T = 64, K = 4, d = 64, 2 layers, batch 64)
  trained by icl (`core.train_chunk`, full read-out and the loss-position read-out)
  and by Zoology's model and step (benchmarks/zoology_reference.py: its data drawn
  up front and untimed, embedding dropout 0.1 on); and under "peers" the
  bigram-backcopy configs (configs/backcopy.py; configs/instability.py and its
  qk_norm variant) trained by icl and by the same model and AdamW step in PyTorch
  (benchmarks/token_reference.py, batches of icl's sampler drawn up front and
  untimed; icl's sampler alone is timed too, as icl draws its batches inside the
  timed scan). Torch runs on 1 thread and on every core; all blocks interleaved.
- transformer_backward: every shipped transformer config, forward vs forward +
  backward of the training loss on one fixed batch (inside a jitted scan with the
  params carried, as in the training chunk; and the loss and gradient as one jitted
  call), the step's steps/s,
  the analytic model FLOPs (benchmarks/flops.py) and the fraction of the measured
  float32 matmul peak they reach.

Both run in full mode only (their compiles would double the tiny mode's cost);
tests/benchmarks/test_token_peers.py runs them with the tiny mode's settings.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp

from benchmarks import flops, harness
from benchmarks.sections.baselines import torch_skip_reason
from benchmarks.sections.flops import matmul_peak
from benchmarks.sections.registry import Settings, register
from benchmarks.sections.training import token_model_configs
from configs import backcopy, instability, mqar
from icl.train import core


def with_readout(config, readout_positions: bool):
  config = config.copy_and_resolve_references()
  config.train.readout_positions = readout_positions
  return config


def mqar_config(quick: bool):
  """The MQAR default (the tiny variant's sizes in quick mode)."""
  return mqar.get_config("tiny" if quick else None)


class ZoologyCase:
  """Zoology's MQAR step on pre-drawn batches (cycled), `threads` torch threads."""

  def __init__(self, config, steps: int, threads: int, num_batches: int = 16):
    import torch

    from benchmarks import zoology_reference as zr
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    self.torch, self.threads, self.steps, self.i = torch, threads, steps, 0
    self.batches = zr.batches_from_icl(config, num_batches)
    model = zr.LanguageModel(config.task.vocab_size, config.task.seq_len,
                             d_model=config.model.d_model,
                             n_layers=config.model.num_layers,
                             num_heads=config.model.num_heads, mlp=config.model.mlp)
    self.step = zr.make_step(model, lr=config.train.lr,
                             weight_decay=config.train.weight_decay)
    self._calibrate(steps)

  def _calibrate(self, steps: int) -> None:
    """Times the first block, then cuts `steps` to about harness.BLOCK_SECONDS."""
    t0 = time.perf_counter()
    self._run(2)
    self.first_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    self._run(3)
    per_step = (time.perf_counter() - t0) / 3
    self.steps = int(max(3, min(steps, harness.BLOCK_SECONDS / per_step)))

  def _run(self, n: int) -> None:
    self.torch.set_num_threads(self.threads)
    for _ in range(n):
      loss = self.step(*self.batches[self.i % len(self.batches)])
      self.i += 1
    float(loss.detach())

  def block(self) -> None:
    self._run(self.steps)


class TorchTokenCase(ZoologyCase):
  """benchmarks/token_reference.py's model and AdamW step for `config` on pre-drawn
  batches of icl's sampler (cycled), `threads` torch threads."""

  def __init__(self, config, steps: int, threads: int, num_batches: int = 16):
    import torch

    from benchmarks import token_reference as tr
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    self.torch, self.threads, self.steps, self.i = torch, threads, steps, 0
    self.batches = tr.batches_from_icl(config, num_batches)
    self.step = tr.make_step(tr.from_config(config), config.train)
    self._calibrate(steps)


class SamplerCase:
  """icl's sampler alone for `config`: `steps` training batches drawn in one jitted scan
  (each from fold_in(key, t), as the training step draws them), every array consumed."""

  def __init__(self, config, steps: int):
    from icl import tasks
    task, batch_size = tasks.make_task(config.task), config.train.batch_size

    def chunk(key):
      def body(c, t):
        b = task.sample(jax.random.fold_in(key, t), batch_size)
        return c + sum(jnp.sum(v.astype(jnp.float32)) for v in b.values()), None
      return jax.lax.scan(body, jnp.float32(0), jnp.arange(steps))[0]

    self.fn, self.key, self.steps = jax.jit(chunk), jax.random.key(0), steps
    t0 = time.perf_counter()
    self.block()
    self.first_s = time.perf_counter() - t0

  def block(self) -> None:
    jax.block_until_ready(self.fn(self.key))


# The bigram-backcopy peers: (name, config module, variant items; the quick mode's items).
PEERS = (("backcopy", backcopy, None, "tiny"),
         ("instability", instability, None, "seq_len=32"),
         ("instability:qk_norm", instability, "qk_norm", "qk_norm,seq_len=32"))


def peer_configs(quick: bool) -> dict:
  """{label: config} of the backcopy peers (shorter sequences in quick mode, the label
  then naming the items)."""
  return {f"{name} ({small})" if quick else name: module.get_config(small if quick else arg)
          for name, module, arg, small in PEERS}


def _rows(cases: dict, best: dict) -> list[dict]:
  return [{"case": n, "steps_per_s": c.steps / best[n], "first_block_s": c.first_s}
          for n, c in cases.items()]


@register("token_peers", when=lambda s: not s.quick)  # full mode only
def token_peers(s: Settings, results: dict) -> dict:
  """MQAR steps/s: icl (full read-out, loss positions) vs Zoology's PyTorch code; the
  backcopy configs (under "peers"): icl vs the PyTorch re-implementation."""
  del results
  import os
  config = mqar_config(s.quick)
  steps = max(s.steps // 20, 10)
  threads_list = sorted({1, os.cpu_count() or 1})  # OpenMP threads can spin on a busy machine
  # The same cases (one compile each) as the token-model and backward sections'.
  cases = {"icl full read-out": harness.named_case(
               "mqar (full read-out)", with_readout(config, False), steps),
           "icl loss positions": harness.named_case(
               "mqar", with_readout(config, True), steps)}
  skipped = {}
  reason = torch_skip_reason(s)
  if reason:
    skipped["zoology"] = skipped["torch peers"] = reason
  else:
    for threads in threads_list:
      cases[f"zoology torch threads={threads}"] = ZoologyCase(config, steps, threads)
  peers = {}
  for name, peer in peer_configs(s.quick).items():
    group = {"icl": harness.IclCase(peer, steps), "icl sampler alone": SamplerCase(peer, steps)}
    if not reason:
      for threads in threads_list:
        group[f"torch threads={threads}"] = TorchTokenCase(peer, steps, threads)
    peers[name] = (peer, group)
  blocks = {n: c.block for n, c in cases.items()}
  for name, (_, group) in peers.items():
    blocks.update({(name, n): c.block for n, c in group.items()})
  best = harness.interleaved(blocks, s.repeats)  # every case of every config in one round
  rows = _rows(cases, best)
  ratios = {}
  zoo = max((r["steps_per_s"] for r in rows if r["case"].startswith("zoology")), default=None)
  if zoo:  # against Zoology's faster thread count
    for r in rows[:2]:
      ratios[f"{r['case']} vs zoology"] = r["steps_per_s"] / zoo
  peer_out = {}
  for name, (peer, group) in peers.items():
    prow = _rows(group, {n: best[(name, n)] for n in group})
    sps = {r["case"]: r["steps_per_s"] for r in prow}
    pratios = {}
    torch_sps = {k: v for k, v in sps.items() if k.startswith("torch")}
    # icl's step time less its sampler's (torch's batches are drawn before the clock)
    model_s = 1.0 / sps["icl"] - 1.0 / sps["icl sampler alone"]
    if torch_sps:  # against torch's faster thread count, and each thread count
      best_torch = max(torch_sps.values())
      pratios["icl vs torch"] = sps["icl"] / best_torch
      if model_s > 0:
        pratios["icl less its sampler vs torch"] = 1.0 / model_s / best_torch
      pratios.update({f"icl vs {k}": sps["icl"] / v for k, v in torch_sps.items()})
    peer_out[name] = {"batch_size": peer.train.batch_size, "seq_len": peer.task.seq_len,
                      "d_model": peer.model.d_model, "num_layers": peer.model.num_layers,
                      "num_heads": peer.model.num_heads, "rows": prow, "ratios": pratios}
  return {"config": "mqar" + (":tiny" if s.quick else ""),
          "environment": harness.environment(),
          "batch_size": config.train.batch_size, "rows": rows, "ratios": ratios,
          "skipped": skipped, "peers": peer_out}



def _fwd_and_fwd_bwd(config, steps: int):
  """Blocks timing the training loss, and the loss with its gradient, on one fixed
  batch: each inside a jitted lax.scan of `steps` iterations with the params carried
  (the gradient feeds a tiny SGD update, so it stays live), as the training chunk runs
  them; and the loss and gradient as one jitted call (slower: each call faults in a
  fresh temporary buffer, see RESULTS.md's analysis)."""
  exp = core.Experiment.from_config(config)
  params = exp.init_params(jax.random.key(0))
  batch = exp.task.sample(jax.random.key(1), config.train.batch_size)
  positions = exp.task.loss_positions(batch)
  loss = lambda p, b: exp.loss(p, b)[0]  # noqa: E731
  grad = jax.value_and_grad(loss)

  def fwd_body(p, b):
    value = loss(p, b)
    return jax.tree.map(lambda x: x + 0 * value, p), value

  def fwd_bwd_body(p, b):
    value, g = grad(p, b)
    return jax.tree.map(lambda x, y: x - 1e-9 * y, p, g), value

  def scanned(body):
    return jax.jit(lambda p, b: jax.lax.scan(lambda c, _: body(c, b), p, None,
                                             length=steps)[1])
  fns = {"fwd": (scanned(fwd_body), steps), "fwd_bwd": (scanned(fwd_bwd_body), steps),
         "fwd_bwd_call": (jax.jit(grad), 1)}
  jax.block_until_ready([fn(params, batch) for fn, _ in fns.values()])

  def block(fn, n):
    calls = max(1, 3 // n)
    def run():
      for _ in range(calls):
        out = fn(params, batch)
      jax.block_until_ready(out)
    return run, calls * n
  return {k: block(fn, n) for k, (fn, n) in fns.items()}, positions


@register("transformer_backward", when=lambda s: not s.quick)
def transformer_backward(s: Settings, results: dict) -> dict:
  """Per shipped transformer config (and MQAR with the full read-out): fwd and
  fwd+bwd ms on a fixed batch, steps/s of the training chunk, model FLOP/s."""
  configs = {}
  for name, config in token_model_configs().items():
    if config.model.name != "transformer":
      continue
    if s.quick:  # the tiny variants where a config has one
      module = __import__(f"configs.{name}", fromlist=["VARIANTS"])
      if "tiny" in getattr(module, "VARIANTS", {}):
        config = module.get_config("tiny")
    configs[name] = config
  if "mqar" in configs:
    configs["mqar (full read-out)"] = with_readout(configs["mqar"], False)
  peak_row = results.get("flops")
  if isinstance(peak_row, dict) and "matmul_peak_flop_per_s" in peak_row:
    peak = peak_row["matmul_peak_flop_per_s"]
  else:
    peak = matmul_peak(512 if s.quick else 1024, 5 if s.quick else 20)
  steps = max(s.steps // 20, 10)  # per chunk block, and per scan of the fixed batch
  blocks, meta = {}, {}
  for name, config in configs.items():
    timed, positions = _fwd_and_fwd_bwd(config, steps)
    for k, (run, _) in timed.items():
      blocks[(name, k)] = run
    blocks[(name, "step")] = harness.named_case(name, config, steps).block
    p = positions.shape[1] if positions is not None and config.train.readout_positions else None
    meta[name] = ({k: n for k, (_, n) in timed.items()}, p, config)
  best = harness.interleaved(blocks, s.repeats)
  rows = []
  for name, (reps, p, config) in meta.items():
    ms = {k: 1e3 * best[(name, k)] / n for k, n in reps.items()}
    fwd_ms, fb_ms = ms["fwd"], ms["fwd_bwd"]
    sps = steps / best[(name, "step")]
    model = flops.transformer_flops_per_step(config, p)
    rows.append({"config": name, "readout_rows": p or "all", "fwd_ms": fwd_ms,
                 "fwd_bwd_ms": fb_ms, "bwd_over_fwd": (fb_ms - fwd_ms) / fwd_ms,
                 "fwd_bwd_call_ms": ms["fwd_bwd_call"], "scan_steps": steps,
                 "steps_per_s": sps, "model_flops_per_step": model,
                 "model_flop_per_s": model * sps,
                 "fraction_of_peak": model * sps / peak,
                 "fwd_bwd_fraction_of_peak": model / (fb_ms / 1e3) / peak})
  return {"matmul_peak_flop_per_s": peak, "rows": rows}
