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

from benchmarks.sections.registry import is_error, measured
from benchmarks.sections.startup import EVAL_TARGET


def failed_sections(results: dict) -> list[str]:
  """Names of the sections whose value is an error record."""
  return [k for k, v in results.items() if is_error(v)]


_ok = measured


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
  if "over_loop_beside" in warm:  # against the loop blocks beside the run
    rows.append((f"whole {wp['steps'] // 1000}k-step run (warm cache) <= 1.25x its loop "
                 "(the blocks beside it)",
                 f"{warm['over_loop_beside']:.2f}x ({warm['over_loop']:.2f}x against the "
                 "fastest block)", _verdict(warm["over_loop_beside"] <= 1.25)))
  elif "over_loop" in warm:  # results.json before the blocks beside each run
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
           "the fastest of its best blocks before "
           f"({_fmt(w.get('loop_before'))}), between "
           f"({', '.join(_fmt(x) for x in w.get('loop_between', [])) or '-'}) and after "
           f"({_fmt(w.get('loop_after'))}) the icl runs, = {w['loop_s']:.1f} s) and beside "
           "the reference PyTorch code's whole run "
           "(`python -m benchmarks.torch_reference`: the same steps, loss lines, test MSE "
           "every 2,500 steps, model saved); run one after another. icl_warm is the "
           "faster of the warm runs (walls: "
           f"{', '.join(f'{x:.1f}' for x in w.get('icl_warm_walls', [])) or '-'} s); "
           "icl vs torch uses the slower. Wall / loop beside: against the mean of the "
           "blocks just before and after that run; in-run steps/s: the run's own, "
           "between its first and last metrics lines.", "",
           "| run | wall s | first metrics line s | last metrics line s | in-run steps/s | "
           "wall / loop | overhead s | loop beside, steps/s | wall / loop beside |",
           "|---|---|---|---|---|---|---|---|---|"]
  for name in ("icl_warm", "torch"):
    r = w.get(name)
    if r is None:
      continue
    label = name if name != "torch" else f"torch (threads {r.get('threads')})"
    if "error" in r:
      lines.append(f"| {label} | error: {r['error']} | | | | | | | |")
      continue
    lines.append(f"| {label} | {r['wall_s']:.1f} | {_fmt(r.get('first_metrics_s'), 1)} | "
                 f"{_fmt(r.get('last_metrics_s'), 1)} | {_fmt(r.get('in_run_steps_per_s'))} | "
                 f"{_fmt(r.get('over_loop'), 2)} | {_fmt(r.get('overhead_s'), 1)} | "
                 f"{_fmt(r.get('loop_beside_steps_per_s'))} | "
                 f"{_fmt(r.get('over_loop_beside'), 2)} |")
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
  rows = t["rows"]
  steps = rows[0].get("scan_steps") if rows else None
  inside = (f"inside a jitted scan of {steps} steps with the params carried, as the "
            "training chunk runs them" if steps else "one jitted call")
  lines = [f"Matmul peak {t['matmul_peak_flop_per_s'] / 1e9:.1f} GFLOP/s. fwd / fwd+bwd: "
           f"the training loss and its gradient on one fixed batch, {inside}; one call: "
           "the loss and gradient as one jitted program (each call faults in a fresh "
           "temporary buffer: see the analysis); steps/s: the training "
           "chunk (sampler and AdamW included); model FLOPs: `benchmarks/flops.py` "
           "(matmuls only, forward x3).", "",
           "| config | read-out rows | fwd ms | fwd+bwd ms | bwd / fwd | fwd+bwd ms, one "
           "call | steps/s | model GFLOP/step | model GFLOP/s | % of peak (step) | "
           "% of peak (fwd+bwd) |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
  for r in rows:
    lines.append(f"| {r['config']} | {r['readout_rows']} | {r['fwd_ms']:.2f} | "
                 f"{r['fwd_bwd_ms']:.2f} | {r['bwd_over_fwd']:.2f} | "
                 f"{_fmt(r.get('fwd_bwd_call_ms'), 2)} | "
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


def _one_model(f: dict) -> list[str]:
  lines = ["| config | steps per block | without vmap steps/s | vmapped steps/s | "
           "speed-up | trace s without / with vmap |", "|---|---|---|---|---|---|"]
  for r in f["rows"]:
    lines.append(f"| {r['config']} | {r['steps']} | {_fmt(r['alone_steps_per_s'], 1)} | "
                 f"{_fmt(r['vmapped_steps_per_s'], 1)} | {r['speedup']:.2f}x | "
                 f"{r['alone_trace_s']:.3f} / {r['vmapped_trace_s']:.3f} |")
  return lines + ["", ONE_MODEL_NOTE, ""]


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
  if "one_model" in results:  # results.json before it had no such section
    lines += _block(results, "one_model", "One model without vmap (the same chunk, "
                    "blocks interleaved)", _one_model)
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
    "reductions in XLA's own loop emitters. A model entry may ask for it "
    "(`ModelEntry.cpu_fusion`, `icl/train/xla_options.py`; `ICL_XLA_CPU_OPTIONS=0` "
    "or the flag in `XLA_FLAGS` leaves XLA's choice); no shipped model does. It made "
    "the transformer family's chunk 1.1-1.3x faster while a one-seed chunk was vmapped "
    "over its one model; a one-model program now runs unbatched (the next table), and "
    "there, as with vmapped seeds, XLA's default is as fast or faster.")

ONE_MODEL_NOTE = (
    "With one model (one seed, no in-program sweep) `core.train_chunk`, "
    "`core.evaluate` and `core.init_states` run the model's function on that model "
    "alone and put the model axis back (`sharding.over_models`): the same steps to "
    "float rounding, a jaxpr without size-1 batch dimensions (JAX's trace of it is part "
    "of every start-up) and an XLA:CPU program built without them. The vmapped column "
    "is the chunk as these functions ran it before.")

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
- Token models (the MQAR, backcopy and instability tables): the backward is timed
  inside a scan with the params carried, as the training chunk runs it. As one
  jitted call the same loss and gradient take 1.0-2.3x longer (the "one call"
  column: backcopy 82 against 36 ms): each call of a program gets a fresh
  temporary buffer (73 MB of activations for backcopy's backward), which the
  allocator maps anew and the kernel zeroes page by page (18k minor page faults a
  call, against 1.8k a step inside a scan, which allocates it once); a training
  chunk pays that once per chunk. The chunk's steps/s agree with the scanned time
  (backcopy: 42 ms a step = 36 ms of loss and gradient + 3.5 ms of sampler +
  AdamW). Measured so, the backward costs 2.2-2.4x the forward on this AMD EPYC
  (fwd+bwd 3.2-3.4x the forward, 3.1-3.5x in the other runs of the day; 2-3x is
  the usual range): the backward runs at about the forward's FLOP rate for twice
  its matmul FLOPs, plus the softmax's and layer norms' backward. What is left is
  XLA:CPU layout work and the dots' rates at these shapes, not arithmetic: the read-out's weight gradient (a [B*T, V] transpose
  under autodiff) and the cross-entropy's gather/scatter are gone
  (`icl/models/matmul.py`, `losses.token_cross_entropy`); with the loss-position
  read-out (the MQAR default) the last block and the read-out run on the K scored
  rows only; over T > 64 the causal attention runs in blocks of 64 query rows, each
  reading only the keys before its last row (`transformer.QUERY_BLOCK`: backcopy
  1.30x a step). A one-seed run's chunk runs unbatched (the "One model without
  vmap" table), with XLA's default YNNPACK fusions (the "XLA:CPU fusion" table).
  At d = 64 every matmul is 64 wide, and XLA:CPU's dots reach the 1024^2 peak only
  for some of those shapes. Measured on this machine the same day (`python -m
  benchmarks.matmul_shapes --config=<name>`, each dot jitted alone; projection /
  read-out / attention scores / weight gradient, % of the 1024^2 peak): mqar 74 /
  95 / 42 / 40 (45 with the left operand stored transposed), instability 81 / 72 /
  39 / 41, backcopy 79 / 88 / 48 / 42. The backward is mostly the last two kinds
  (each kernel's gradient is a [B*T, D]^T @ [B*T, D] reduction over the 2048-8192
  rows), and the steps' 41-47% of the peak (every shipped transformer config at or
  above the 40% target in this run and the day's two before it) sits between them.
- MQAR with the full read-out (the 2x target): the step's model count is 2.01 GFLOP
  (the V = 512 read-out at all 64 positions is most of it). icl's full read-out
  step (51.6 steps/s in the backward table, 51.4 in the interleaved peer blocks)
  does 104 GFLOP/s, 47% of the measured matmul peak (220 GFLOP/s), and Zoology's on
  both cores 38% (41.7 steps/s); 2x Zoology would take 74-80% of the peak with
  matmuls 64 wide, above every rate but the read-out's in the shapes table. Zoology
  computes the same full read-out; this target is bound by the hardware at this
  width. The loss-position read-out computes the same loss and gradients with 0.88
  GFLOP; it is the default, and reached 2.39x Zoology here (2.34-2.49x in the day's
  other full runs; 2.47x on an Intel Xeon, 2.6-3.5x in earlier AMD EPYC runs): at
  the 2.5x target only to the runs' noise, above 2x in every run.
- Bigram-backcopy peers: icl is level with PyTorch eager on backcopy (0.94x here,
  0.86x in a run of the same day; 0.53x on the Intel Xeon before the blocked
  attention) and ahead on the instability configs (1.10-1.16x); the balance moves
  between machines and runs, as torch's two-thread speed does. Torch's loop draws
  no data (its batches are pre-drawn, untimed) where icl's step samples its batch
  (the sampler column: 3.5 ms of backcopy's 43 ms step; the "(less sampler)" column
  takes it off). Torch on both cores collapses on a busy machine (OpenMP threads
  spinning), as Zoology's does.
- Whole process (the 20k-step run): on a warm compilation cache 1.7-1.9 s pass
  before the first metrics line (1.97-2.2 s before the start-up change below):
  starting Python and importing jax and flax (~0.65 s of imports with the
  collector off; ml_dtypes 0.7.0 would add 0.4-0.7 s, hence its cap in
  pyproject.toml), initialising the models, tracing and lowering the run's
  training program (one model: no vmap, a quarter of the vmapped trace) and
  loading it from the cache, and the first chunk. The memory check reads the
  traces the loop then reuses (the init's too), and the evaluation program is
  compiled while the first chunk runs. `python -m icl.train` starts with Python's
  garbage collector off (`icl/startup.py`; its full collections walked the
  hundreds of thousands of objects the imports leave alive, 0.2 s of them; it is
  back on, with everything alive frozen, when the loop starts), and imports orbax
  at its first save, while a chunk computes (0.12 s; a new work dir has no step
  to look up). Then 8 evaluations (8 ms each) and 8 checkpoints (9 ms of the main
  thread each), which
  no longer stall the pipeline: an evaluation is dispatched before the next chunk,
  on prompts drawn once and kept on device (the draw was two thirds of it), and a
  checkpoint saves a device copy of the state while the next chunk runs; XLA:CPU
  runs the evaluation and the chunk one after the other, so each still costs its
  forward, and orbax's background write (~35 ms of CPU) slows the chunk beside it.
  Then a 0.1 s exit (`os._exit` once the files are closed). The target's ratio
  is each run against the loop blocks measured just before and after it; the
  table also gives the run against the fastest block and the run's own loop speed
  between its first and last metrics lines. The loop's blocks are each the best
  of 3, the run an average over its 12 s, so on this VM the run's own speed
  varies most: here the load average was 2.0 at the start, the run's loop went at
  1,608 steps/s beside blocks of 1,874-1,890, and the run took 14.1 s, 1.33x
  (1.34x against the fastest block, 3.5 s of overhead). In the run before it the
  same code took 13.7 s, 1.26x against the fastest block, 1.19x against the blocks
  beside it (computed from its results.json: the run's loop at 1,635 steps/s, the
  block between the runs at 1,641); the section alone gave 1.22x (13.0 s, 2.4 s of
  overhead); the day's runs before the start-up change, 1.26x and 1.34x against
  the fastest block. The fixed part (Python, imports, traces, the exit: the first
  metrics line less its chunk, plus 0.1 s) is now 1.5-1.7 s; the rest of the overhead
  is the run's loop running slower than the best blocks, which moves with the
  host's load from 0 to 15%. Whole process against the reference PyTorch code's
  whole run: 4.13x (3.60-5.01x in the day's runs).
- The full run's own time (the header's section times): 515 s, under the 10-minute
  target (456-698 s in earlier runs, 508-517 s today). The heaviest sections are the whole-process
  section (its reference PyTorch run alone takes 40-90 s), the token models' peers
  and backward, the LLC's tiny transformer and the models, GPT-2 and fusion
  sections, which compile one program per case.
"""
