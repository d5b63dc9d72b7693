"""The report writer: benchmark results -> the ratios, targets and RESULTS.md.

`headline` and `targets` derive the numbers the README quotes from the sections'
rows; `render` lays out RESULTS.md, one block per section in the run order. A
section that failed shows `error: <message>` under its heading; one that did not
run shows that it did not. The hand-written reading of the numbers is ANALYSIS at
the end of this module (stored in results.json too), kept apart from the
measuring code.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from benchmarks.sections.registry import is_error
from benchmarks.sections.startup import EVAL_TARGET


def failed_sections(results: dict) -> list[str]:
  """Names of the sections whose value is an error record."""
  return [k for k, v in results.items() if is_error(v)]


def _ok(results: dict, key: str):
  """results[key] if that section ran and did not fail, else None."""
  value = results.get(key)
  return None if value is None or is_error(value) else value


# --- derived numbers -----------------------------------------------------------------


def headline(results: dict) -> dict:
  """The ratios the README quotes: icl vs each baseline per H, seeds vs 1 seed."""
  out = {}
  base = {r["case"]: r["steps_per_s"]
          for r in (_ok(results, "baselines") or {"rows": []})["rows"]}
  for h in results["heads"]:
    icl = base.get(f"icl H={h}")
    loop = base.get(f"python loop H={h}")
    torch_best = max((v for k, v in base.items()
                      if k.startswith(f"torch eager H={h} ")), default=None)
    if icl and loop:
      out[f"icl_vs_python_loop_H{h}"] = icl / loop
    if icl and torch_best:
      out[f"icl_vs_torch_eager_H{h}"] = icl / torch_best
    comp = base.get(f"torch.compile H={h} threads=1")
    if icl and comp:
      out[f"icl_vs_torch_compile_H{h}"] = icl / comp
  for r in _ok(results, "seeds") or []:
    out[f"seeds_{r['seeds']}_vs_1_prompt_throughput"] = r["speedup_vs_1_seed"]
  return out


def _verdict(ok: bool) -> str:
  return "met" if ok else "not met"


def targets(results: dict) -> list[tuple[str, str, str]]:
  """(target, measured, verdict) rows for the goals the issues set."""
  rows = []
  sm = {r["heads"]: r["steps_per_s"] for r in _ok(results, "icl") or []
        if r["attention"] == "softmax"}
  for h, goal in ((2, 1500), (8, 900)):
    if h in sm:
      rows.append((f"H={h} >= {goal} steps/s", f"{sm[h]:,.0f}", _verdict(sm[h] >= goal)))
  head = results["headline"]
  for k, v in head.items():
    if k.startswith("icl_vs_torch_eager"):
      rows.append((f"{k} >= 5x", f"{v:.1f}x", _verdict(v >= 5)))
  s16 = head.get("seeds_16_vs_1_prompt_throughput")
  if s16 is not None:
    rows.append(("16 seeds >= 1 seed (prompt-steps/s)", f"{s16:.2f}x", _verdict(s16 >= 1)))
    rows.append(("16 seeds >= 6x 1 seed (other issue)", f"{s16:.2f}x", _verdict(s16 >= 6)))
  p = _ok(results, "probes")
  if p:
    rows.append(("probes cost <= 20%", f"{100 * p['overhead']:.0f}%",
                 _verdict(p["overhead"] <= 0.2)))
  tp = _ok(results, "token_peers") or {}
  for k, goal in (("icl full read-out vs zoology", 2.0), ("icl loss positions vs zoology", 2.5)):
    v = (tp.get("ratios") or {}).get(k)
    if v is not None:
      rows.append((f"MQAR {k} >= {goal}x", f"{v:.2f}x", _verdict(v >= goal)))
  for r in (_ok(results, "transformer_backward") or {}).get("rows", []):
    rows.append((f"{r['config']}: backward <= 2x forward (fwd+bwd <= 3x)",
                 f"{r['bwd_over_fwd']:.2f}x", _verdict(r["bwd_over_fwd"] <= 2.0)))
  cs = _ok(results, "cold_start") or {}
  for k in ("no_cache", "cache_warm"):
    t = cs.get(k, {}).get("to_target_s")
    if t is not None:
      rows.append((f"cold start to eval <= {EVAL_TARGET} ({k}) <= 20 s", f"{t:.1f} s",
                   _verdict(t <= 20)))
  wp = _ok(results, "whole_process") or {}
  warm = wp.get("icl_warm") or {}
  if "over_loop" in warm:
    rows.append((f"whole {wp['steps'] // 1000}k-step run (warm cache) <= 1.25x its loop",
                 f"{warm['over_loop']:.2f}x", _verdict(warm["over_loop"] <= 1.25)))
  if "icl_vs_torch" in wp:
    rows.append(("whole process icl vs torch reference >= 2.5x",
                 f"{wp['icl_vs_torch']:.2f}x", _verdict(wp["icl_vs_torch"] >= 2.5)))
  return rows


# --- RESULTS.md ----------------------------------------------------------------------


def _fmt(x, nd=0):
  if x is None or (isinstance(x, float) and math.isnan(x)):
    return "-"
  return f"{x:,.{nd}f}"


def _block(results: dict, key: str, heading: str,
           body: Callable[[object], list[str]]) -> list[str]:
  """A section's block: heading, then its body, its error or "not run."."""
  value = results.get(key)
  lines = [f"## {heading}", ""]
  if value is None:
    return lines + ["not run.", ""]
  if is_error(value):
    return lines + [f"error: {value['error']}", ""]
  return lines + body(value)


def _header(results: dict) -> list[str]:
  env = results["environment"]
  lines = ["# icl benchmarks", "",
           f"Generated by `python -m benchmarks.run{' --quick' if results['quick'] else ''}`"
           f" on {env['date']}.", "",
           f"- machine: {env['machine']}; JAX device {env['device']}",
           "- versions: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items()),
           f"- load average at start / end: {env['load_avg_start']} / "
           f"{env.get('load_avg_end')}"
           " (more than the core count means the numbers are low and noisy; compare ratios)",
           f"- method: best of {results['repeats']} interleaved blocks per case"
           f" ({results['steps']} steps per icl block); total wall {results['wall_s']:.0f} s",
           ""]
  if results.get("section_seconds"):  # results.json before it had none
    lines[-1:-1] = ["- sections, wall s: " + ", ".join(
        f"{k} {v:.0f}" for k, v in results["section_seconds"].items())]
  if results.get("notes"):
    lines += ["Notes: " + results["notes"], ""]
  return lines


def _targets(results: dict) -> list[str]:
  return (["## Targets", "", "| target | measured | verdict |", "|---|---|---|"]
          + [f"| {a} | {b} | {c} |" for a, b, c in results["targets"]] + [""])


def _icl(rows: list[dict]) -> list[str]:
  lines = ["| attention | H | steps/s | ms/step | compile s | init s |",
           "|---|---|---|---|---|---|"]
  for r in rows:
    lines.append(f"| {r['attention']} | {r['heads']} | {_fmt(r['steps_per_s'])} | "
                 f"{_fmt(r['ms_per_step'], 3)} | {_fmt(r['compile_s'], 1)} | "
                 f"{_fmt(r['init_s'], 1)} |")
  return lines + [""]


def _baselines(value: dict) -> list[str]:
  lines = ["| case | steps/s | first block s |", "|---|---|---|"]
  for r in value["rows"]:
    extra = f" (compile {r['compile_s']:.0f} s)" if "compile_s" in r else ""
    lines.append(f"| {r['case']} | {_fmt(r['steps_per_s'])} | "
                 f"{_fmt(r['first_block_s'], 1)}{extra} |")
  lines += [f"| {k} | skipped: {v} | |" for k, v in value["skipped"].items()]
  return lines + [""]


def _ratios(results: dict) -> list[str]:
  return ["Ratios: " + ", ".join(f"{k} = {v:.2f}" for k, v in results["headline"].items()),
          ""]


def _seeds(rows: list[dict]) -> list[str]:
  lines = ["| seeds | steps/s | prompt-steps/s | vs 1 seed | compiled memory MiB "
           "(args+out+temp) |", "|---|---|---|---|---|"]
  for r in rows:
    lines.append(f"| {r['seeds']} | {_fmt(r['steps_per_s'])} | "
                 f"{_fmt(r['prompt_steps_per_s'])} | {r['speedup_vs_1_seed']:.2f}x | "
                 f"{r['memory']['total'] / 2**20:.2f} |")
  return lines + [""]


def _sampler(rows: list[dict]) -> list[str]:
  lines = ["| bit generator | ms/batch | first call s (compile) |", "|---|---|---|"]
  lines += [f"| {r['generator']} | {_fmt(r['ms_per_batch'], 3)} | "
            f"{_fmt(r['first_call_s'], 1)} |" for r in rows]
  return lines + ["", SAMPLER_NOTE, ""]


def _llc(rows: list[dict]) -> list[str]:
  lines = ["| case | chains | ms / chain-step | first call s |", "|---|---|---|---|"]
  lines += [f"| {r['case']} | {r['chains']} | {_fmt(r['ms_per_chain_step'], 3)} | "
            f"{_fmt(r['first_call_s'], 1)} |" for r in rows]
  return lines + [""]


def _probes(p: dict) -> list[str]:
  return [f"every {p['every']} steps: on {_fmt(p['on_steps_per_s'])} steps/s, off "
          f"{_fmt(p['off_steps_per_s'])} steps/s, overhead {100 * p['overhead']:.1f}%", ""]


def _ttfs(t: dict) -> list[str]:
  return [f"In-process, a fresh config (H = {t['heads']}): build + init {t['init_s']:.1f} s, "
          f"first {t['chunk_steps']}-step chunk done at {t['to_first_chunk_s']:.1f} s; "
          f"first evaluation (20k prompts, compile included) {t['first_eval_s']:.1f} s.", ""]


def _cold_start(cs: dict) -> list[str]:
  lines = [f"Cold start, `python -m icl.train` (H = 2, eval every 250 steps) from process "
           f"start to eval MSE <= {EVAL_TARGET}:", "",
           "| persistent compilation cache | first metrics line s | eval <= 0.25 s | step "
           "| eval MSE |", "|---|---|---|---|---|"]
  for k, r in cs.items():
    if "error" in r:  # the training process failed or never reached the target
      lines.append(f"| {k} | error: {r['error']} | | | |")
    else:
      lines.append(f"| {k} | {_fmt(r.get('first_metrics_s'), 1)} | "
                   f"{_fmt(r.get('to_target_s'), 1)} | {r.get('step')} | "
                   f"{_fmt(r.get('eval_loss'), 3)} |")
  return lines + ["", CACHE_NOTE, ""]


def _whole_process(w: dict) -> list[str]:
  lines = [f"`python -m icl.train --config=configs/regression.py` at {w['steps']:,} steps "
           f"(H = {w['heads']}), process spawn to exit, beside its loop time "
           f"({w['steps']:,} / {_fmt(w['loop_steps_per_s'])} steps/s of `core.train_chunk`, "
           "the faster of its best blocks just before "
           f"({_fmt(w.get('loop_before'))}) and just after ({_fmt(w.get('loop_after'))}) "
           f"the run, = {w['loop_s']:.1f} s) and beside the reference PyTorch code's whole run "
           "(`python -m benchmarks.torch_reference`: the same steps, loss lines, test MSE "
           "every 2,500 steps, model saved); run one after another.", "",
           "| run | wall s | first metrics line s | last metrics line s | wall / loop | "
           "overhead s |", "|---|---|---|---|---|---|"]
  for name in ("icl_warm", "torch"):
    r = w.get(name)
    if r is None:
      continue
    label = name if name != "torch" else f"torch (threads {r.get('threads')})"
    if "error" in r:
      lines.append(f"| {label} | error: {r['error']} | | | | |")
      continue
    lines.append(f"| {label} | {r['wall_s']:.1f} | {_fmt(r.get('first_metrics_s'), 1)} | "
                 f"{_fmt(r.get('last_metrics_s'), 1)} | {_fmt(r.get('over_loop'), 2)} | "
                 f"{_fmt(r.get('overhead_s'), 1)} |")
  lines.append("")
  if "icl_vs_torch" in w:
    lines += [f"Whole process, icl (warm cache) vs torch: {w['icl_vs_torch']:.2f}x.", ""]
  for k, v in (w.get("skipped") or {}).items():
    lines += [f"Skipped {k}: {v}", ""]
  return lines


def _startup(results: dict) -> list[str]:
  """The compile-time block: in-process time to first step, then cold starts."""
  lines = ["## Compile time and time to first step", ""]
  t, cs = results.get("ttfs"), results.get("cold_start")
  if t is not None:
    lines += [f"error: {t['error']}", ""] if is_error(t) else _ttfs(t)
  if cs is None:
    return lines + ["Cold start: not run in this mode.", ""]
  return lines + ([f"Cold start error: {cs['error']}", ""] if is_error(cs)
                  else _cold_start(cs))


def _flops(f: dict) -> list[str]:
  lines = [f"Measured matmul peak ({f['matmul_n']}x{f['matmul_n']} float32 `a @ a` under "
           f"jit): {f['matmul_peak_flop_per_s'] / 1e9:.1f} GFLOP/s.", "", FLOPS_NOTE, "",
           "| H | XLA FLOP/step | model FLOP/step | XLA GFLOP/s | % of peak (XLA) | "
           "% of peak (model) |", "|---|---|---|---|---|---|"]
  for r in f["rows"]:
    lines.append(f"| {r['heads']} | {r['xla_flops_per_step'] / 1e6:.2f} M | "
                 f"{r['model_flops_per_step'] / 1e6:.2f} M | "
                 f"{r['xla_flop_per_s'] / 1e9:.2f} | "
                 f"{100 * r['fraction_of_peak_xla']:.1f}% | "
                 f"{100 * r['fraction_of_peak_model']:.1f}% |")
  return lines + [""]


def _token_peers(t: dict) -> list[str]:
  lines = [f"Config `{t['config']}`, batch {t['batch_size']}; Zoology's model and step are "
           "`benchmarks/zoology_reference.py` (its batches drawn up front, untimed; "
           "embedding dropout 0.1).", ""]
  env = t.get("environment")
  if env:
    lines += [f"Measured {env['date']} on {env['machine']}, load average at start "
              f"{env['load_avg_start']}.", ""]
  lines += ["| case | steps/s | first block s |", "|---|---|---|"]
  for r in t["rows"]:
    lines.append(f"| {r['case']} | {_fmt(r['steps_per_s'], 1)} | {_fmt(r['first_block_s'], 1)} |")
  lines.append("")
  if t.get("ratios"):
    lines += ["Ratios: " + ", ".join(f"{k} = {v:.2f}x" for k, v in t["ratios"].items()), ""]
  for k, v in (t.get("skipped") or {}).items():
    lines += [f"Skipped {k}: {v}", ""]
  if t.get("peers"):
    lines += _token_model_peers(t["peers"])
  return lines


def _token_model_peers(peers: dict) -> list[str]:
  """The bigram-backcopy configs: icl vs the PyTorch re-implementation."""
  torch_cases = sorted({r["case"] for p in peers.values() for r in p["rows"]
                        if r["case"].startswith("torch")},
                       key=lambda c: int(c.rsplit("=", 1)[-1]))
  lines = ["Bigram-backcopy configs, icl vs the same model and AdamW step in PyTorch "
           "(`benchmarks/token_reference.py`, checked to give icl's loss on icl's "
           "parameters; its batches are icl's sampler's, drawn up front and untimed, "
           "while icl samples inside its training scan: the sampler column is icl's "
           "sampler alone, batches/s). Steps/s; icl / torch is against torch's faster "
           "thread count, and (less sampler) with the sampler's time taken off icl's "
           "step.", "",
           "| config | batch | T | d | layers x heads | icl | sampler | "
           + "".join(f"{c} | " for c in torch_cases) + "icl / torch | (less sampler) |",
           "|---|---|---|---|---|---|---|" + "---|" * len(torch_cases) + "---|---|"]
  for name, p in peers.items():
    sps = {r["case"]: r["steps_per_s"] for r in p["rows"]}
    ratios = p.get("ratios") or {}
    x = lambda k: "-" if ratios.get(k) is None else f"{ratios[k]:.2f}x"
    lines.append(f"| {name} | {p['batch_size']} | {p['seq_len']} | {p['d_model']} | "
                 f"{p['num_layers']} x {p['num_heads']} | {_fmt(sps.get('icl'), 1)} | "
                 f"{_fmt(sps.get('icl sampler alone'), 1)} | "
                 + "".join(f"{_fmt(sps.get(c), 1)} | " for c in torch_cases)
                 + f"{x('icl vs torch')} | {x('icl less its sampler vs torch')} |")
  return lines + [""]


def _transformer_backward(t: dict) -> list[str]:
  lines = [f"Matmul peak {t['matmul_peak_flop_per_s'] / 1e9:.1f} GFLOP/s. fwd / fwd+bwd: "
           "the training loss and its gradient on one fixed batch (jitted); steps/s: the "
           "training chunk (sampler and AdamW included); model FLOPs: "
           "`benchmarks/flops.py` (matmuls only, forward x3).", "",
           "| config | read-out rows | fwd ms | fwd+bwd ms | bwd / fwd | steps/s | "
           "model GFLOP/step | model GFLOP/s | % of peak (step) | % of peak (fwd+bwd) |",
           "|---|---|---|---|---|---|---|---|---|---|"]
  for r in t["rows"]:
    lines.append(f"| {r['config']} | {r['readout_rows']} | {r['fwd_ms']:.2f} | "
                 f"{r['fwd_bwd_ms']:.2f} | {r['bwd_over_fwd']:.2f} | "
                 f"{_fmt(r['steps_per_s'], 1)} | {r['model_flops_per_step'] / 1e9:.3f} | "
                 f"{r['model_flop_per_s'] / 1e9:.1f} | {100 * r['fraction_of_peak']:.0f}% | "
                 f"{100 * r['fwd_bwd_fraction_of_peak']:.0f}% |")
  return lines + [""]


def _models(m: dict) -> list[str]:
  lines = ["| config | model | steps/s | compile s |", "|---|---|---|---|"]
  for r in m["rows"]:
    if "error" in r:  # rows of results.json files written before errors were fatal
      lines.append(f"| {r['config']} | error: {r['error']} | | |")
    else:
      lines.append(f"| {r['config']} | {r['model']} | {_fmt(r['steps_per_s'])} | "
                   f"{_fmt(r['compile_s'], 1)} |")
  return lines + [""]


def _fusion(f: dict) -> list[str]:
  lines = ["| config | seeds | steps per block | individual_dot steps/s | XLA's default "
           "steps/s | individual_dot speed-up | icl uses |", "|---|---|---|---|---|---|---|"]
  for r in f["rows"]:
    lines.append(f"| {r['config']} | {r['seeds']} | {r['steps']} | "
                 f"{_fmt(r['individual_dot_steps_per_s'], 1)} | "
                 f"{_fmt(r['xla_default_steps_per_s'], 1)} | {r['speedup']:.2f}x | "
                 f"{r['icl_uses']} |")
  return lines + ["", FUSION_NOTE, ""]


def render(results: dict) -> str:
  """RESULTS.md for `results` (as run.run returns it, or read from results.json)."""
  lines = _header(results) + _targets(results)
  lines += _block(results, "icl", "Default training path (`core.train_chunk`, 1 seed, "
                  "batch 256)", _icl)
  lines += _block(results, "baselines", "icl vs a Python loop vs PyTorch (softmax, same "
                  "step, blocks interleaved)", _baselines) + _ratios(results)
  lines += _block(results, "seeds", "Vmapped seeds (softmax, H = 2)", _seeds)
  lines += [f"Peak RSS of this process: {results['peak_rss_mib']:.0f} MiB.", ""]
  lines += _block(results, "sampler", "The sampler alone (one batch of 256 prompts, "
                  "64k normals)", _sampler)
  lines += _block(results, "probes", "Probes at the default cadence", _probes)
  lines += _startup(results)
  if "whole_process" in results:  # full mode only; results.json before it had none
    lines += _block(results, "whole_process", "Whole process: a 20k-step run against its "
                    "loop time and against the reference code", _whole_process)
  lines += _block(results, "flops", "Achieved FLOP/s", _flops)
  lines += _block(results, "models", "Larger models (parity / recall tasks)", _models)
  if "fusion" in results:  # results.json before it had no such section
    lines += _block(results, "fusion", "XLA:CPU fusion: YNNPACK fusion lists "
                    "(same programs, blocks interleaved)", _fusion)
  if "token_peers" in results:  # results.json before it had no such section
    heading = "MQAR: icl vs Zoology's PyTorch code (blocks interleaved)"
    if (_ok(results, "token_peers") or {}).get("peers"):  # results.json before: MQAR only
      heading = ("Token models: icl vs PyTorch (MQAR: Zoology's code; bigram-backcopy: "
                 "a re-implementation; blocks interleaved)")
    lines += _block(results, "token_peers", heading, _token_peers)
  if "transformer_backward" in results:
    lines += _block(results, "transformer_backward", "Transformer: backward vs forward, "
                    "achieved FLOP/s", _transformer_backward)
  if "llc" in results:  # full mode only; results.json before it had no such section
    lines += _block(results, "llc", "LLC: SGLD chains vmapped vs chain by chain", _llc)
  if results.get("analysis"):
    lines += ["## What bounds the remaining gap", "", results["analysis"]]
  else:
    lines.pop()  # the last block's blank line
  return "\n".join(lines) + "\n"


# --- notes: fixed text of the report ---------------------------------------------------

SAMPLER_NOTE = (
    "All four give the same distribution; icl keeps threefry (the JAX default "
    "generator) and draws with its compact layout, which hashes half as many "
    "counters per normal.")

CACHE_NOTE = (
    "The cache is JAX's own, on by default for the entry points (`python -m icl.train`, "
    "`python -m icl.evaluate`): `~/.cache/icl/jax`, or `JAX_COMPILATION_CACHE_DIR`; "
    "`ICL_COMPILATION_CACHE=0` turns it off. Every program is cached, the start-up's "
    "small ones too (`JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS` overrides).")

FUSION_NOTE = (
    "XLA's default list hands YNNPACK subgraphs of dots and the reductions next to "
    "them; `individual_dot` hands it each dot alone and fuses the elementwise work and "
    "reductions in XLA's own loop emitters. icl picks per model "
    "(`ModelEntry.cpu_fusion`, `icl/train/xla_options.py`; `ICL_XLA_CPU_OPTIONS=0` "
    "or the flag in `XLA_FLAGS` leaves XLA's choice): `individual_dot` for the "
    "transformer family, XLA's default for the regression model, whose vmapped seeds "
    "run faster with it.")

FLOPS_NOTE = (
    "XLA count = `cost_analysis()['flops']` of the compiled single-seed `train_step` "
    "(includes the sampler's integer and float elementwise work and Adam); model count "
    "= analytic forward FLOPs of the reassociated model x3 for the backward "
    "(multiply-add = 2).")

# The reading of the numbers of the last full run on the 2-core CPU (hand-written;
# update it with RESULTS.md when the numbers move).
ANALYSIS = """\
- The sampler is most of a step. One batch is 256 x 251 = 64k normals; with JAX's
  threefry each costs a 20-round hash (half a hash in the compact layout the sampler
  uses) plus an erfinv; the sampler draws them in one call (`icl/tasks/regression.py`).
  Compare "The sampler alone" with the ms/step of the default path: what is left is
  the forward+backward+Adam of a 1-10k-FLOP-per-prompt model, i.e. ~100 small XLA
  kernels whose dispatch, not arithmetic, costs the time. Achieved FLOP/s are a small
  fraction of the matmul peak and will stay so at this model size.
- The Python loop with numpy data is close to icl on this CPU: numpy's PCG64 +
  ziggurat normals are about as cheap per batch as threefry, and the jitted step is
  the same. icl's fused path wins by not crossing the host per step (it matters more
  on accelerators and with vmapped seeds) and by being exactly resumable from
  (data_key, step); on a 2-core CPU the bound for both is normal generation.
- Vmapped seeds multiply the sampler's work by S; on 2 cores the per-step work of
  one seed already keeps both cores busy, so prompt-steps/s grow only by the
  amortised per-kernel dispatch (~1.3x), and 6x is out of reach: the bound is the
  per-seed cost of the normals, which no batching removes.
- Compile time is mostly the threefry hash unrolled into each program (the
  partitionable layout compiled 2-3x slower, see the sampler table). A cold start
  pays imports, backend init, the init/chunk/eval compiles and ~2.5k steps; JAX's
  persistent compilation cache (JAX_COMPILATION_CACHE_DIR) removes the compiles on
  every later run.
- Token models (the MQAR, backcopy and instability tables): the backward's excess
  over 2x the forward is XLA:CPU layout work, not arithmetic: transposes of the
  activations around the batched attention dots and the weight-gradient dots, and
  elementwise passes over the [B*T, V] logits. The read-out's weight gradient (a
  [B*T, V] transpose under autodiff) and the cross-entropy's gather/scatter are gone
  (`icl/models/matmul.py`, `losses.token_cross_entropy`); with the loss-position
  read-out (the MQAR default) the last block and the read-out run on the K scored
  rows only. The transformer family compiles with `individual_dot` (the "XLA:CPU
  fusion" table): MQAR's step runs 1.21-1.27x faster than with XLA's default
  YNNPACK subgraphs of dots and reductions. What is left bounds the small configs' FLOP/s: at d = 64 every
  matmul is 64 wide, below the width where the CPU's matmul kernels reach the 1024^2
  peak.
- MQAR with the full read-out (the 2x target): the step's model count is 2.01 GFLOP
  (the V = 512 read-out at all 64 positions is most of it), so Zoology's own step on
  both cores already runs at ~40% of this CPU's matmul peak, and 2x Zoology would
  need ~80% of the peak at d = 64 widths. The loss-position read-out computes the
  same loss and gradients with 0.88 GFLOP; it is the default, and reached 2.6-3.5x
  Zoology in today's runs.
- Bigram-backcopy peers: PyTorch eager on one thread is level with or ahead of
  icl's step on backcopy and instability (see the peers table). On one fixed batch
  the forwards are level, but XLA:CPU's backward of the T = 256 attention costs
  about 4x its forward where ATen's costs 2x (the "Transformer" table's bwd / fwd);
  torch's loop also draws no data (its batches are pre-drawn, untimed) where icl's
  step samples its batch (the backcopy sampler's noise is now drawn before its scan
  over positions: 26 -> 5 ms of the step). Torch on both cores collapses on a busy
  machine (OpenMP threads spinning), as Zoology's does.
- Whole process (the 20k-step run): on a warm compilation cache ~2.5-4 s pass
  before the first metrics line: importing jax, flax and orbax (~1.5 s), tracing and
  lowering the run's one training program (~0.5 s: the persistent cache skips XLA's
  compile, not JAX's tracing), the memory check's trace (0.2 s) and the first chunk;
  the evaluation program is compiled while that chunk runs. Then 8 evaluations (20k
  prompts each, ~40 ms), 8 checkpoints (written in the background) and a 0.05 s exit
  (`os._exit` once the files are closed). The loop's own speed drifts by 20-35%
  within the run's minute on this VM (1,614 steps/s just before the run, 1,199 just
  after), so the ratio moves with it: 1.71x against the faster, 1.27x against the
  slower. The 1.25x target is not met on this CPU (the start-up alone is most of its
  budget at these loop times); the ratio to the reference code's whole process is
  well above 2.5x.
- The full run's own time (the header's section times): 698 s on this loaded VM,
  over the 10-minute target. The heaviest sections are those that compile one
  program per case (the XLA:CPU fusion pairs, the token models, the LLC's tiny
  transformer) and the whole-process section, whose reference PyTorch run alone
  takes 55-90 s. Since this run the fusion section times 4 cases instead of 6.
"""
