"""The token-model benchmark sections: the analytic transformer FLOP count by hand, and
(slow) both sections end to end at the tiny mode's sizes."""

import importlib.util
import math

import pytest

from benchmarks import flops, report, sections
from benchmarks.sections import token_peers
from configs import backcopy, instability, mqar


def test_transformer_flops_match_hand_count():
  # MQAR default: B = 64, T = 64, D = 64, V = 512, 2 layers, no MLP.
  # Per full layer: 8 * 64*64 * 64*64 (q, k, v, o) + 4 * 64 * 64*64 * 64 (scores, values)
  # = 134,217,728 + 67,108,864; the read-out 2 * 64*64 * 64 * 512 = 268,435,456.
  full_layer = 134_217_728 + 67_108_864
  config = mqar.get_config()
  assert flops.transformer_forward_flops(config) == 2 * full_layer + 268_435_456
  # K = 4 loss positions: the last layer's k, v on all 64 rows, q, o, scores and
  # values on 4 rows; the read-out on 4 rows.
  last = 64 * (4 * 64 * 64 * 64 + 4 * 4 * 64 * 64 + 4 * 4 * 64 * 64)
  assert flops.transformer_forward_flops(config, 4) == full_layer + last + 268_435_456 // 16
  assert flops.transformer_flops_per_step(config, 4) == 3 * flops.transformer_forward_flops(
      config, 4)


def test_token_sections_are_full_mode_only():
  for name in ("token_peers", "transformer_backward"):
    assert not sections.SECTIONS[name].when(sections.Settings.for_mode(True))
    assert sections.SECTIONS[name].when(sections.Settings.for_mode(False))


def test_peer_configs_are_the_shipped_defaults():
  configs = token_peers.peer_configs(False)
  assert list(configs) == ["backcopy", "instability", "instability:qk_norm"]
  assert configs["backcopy"].to_dict() == backcopy.get_config().to_dict()
  assert configs["instability"].to_dict() == instability.get_config().to_dict()
  assert configs["instability:qk_norm"].to_dict() == instability.get_config(
      "qk_norm").to_dict()


@pytest.mark.slow
def test_token_sections_run_at_tiny_sizes():
  has_torch = importlib.util.find_spec("torch") is not None
  s = sections.Settings.for_mode(True, steps=20, repeats=1, with_torch=has_torch)
  peers = token_peers.token_peers(s, {})
  cases = {r["case"]: r["steps_per_s"] for r in peers["rows"]}
  assert all(v > 0 and math.isfinite(v) for v in cases.values())
  assert {"icl full read-out", "icl loss positions"} <= set(cases)
  assert bool(peers["ratios"]) == has_torch
  assert list(peers["peers"]) == [name for name in token_peers.peer_configs(True)]
  for name, peer in peers["peers"].items():  # the backcopy configs beside PyTorch
    sps = {r["case"]: r["steps_per_s"] for r in peer["rows"]}
    assert all(v > 0 and math.isfinite(v) for v in sps.values()), name
    assert {"icl", "icl sampler alone"} <= set(sps)
    assert any(k.startswith("torch threads=") for k in sps) == has_torch
    if has_torch:
      best = max(v for k, v in sps.items() if k.startswith("torch"))
      assert peer["ratios"]["icl vs torch"] == pytest.approx(sps["icl"] / best)
      if "icl less its sampler vs torch" in peer["ratios"]:  # the sampler is part of a step
        assert peer["ratios"]["icl less its sampler vs torch"] > peer["ratios"]["icl vs torch"]
  assert peers["peers"]["backcopy (tiny)"]["seq_len"] == 32
  assert any(line.startswith("| backcopy (tiny) | 32 | 32 | 64 | 1 x 1 |")
             for line in report._token_peers(peers))
  back = token_peers.transformer_backward(s, {})
  rows = {r["config"]: r for r in back["rows"]}
  assert {"mqar", "mqar (full read-out)", "backcopy", "instability"} <= set(rows)
  assert rows["mqar"]["readout_rows"] == 4 and rows["mqar (full read-out)"]["readout_rows"] == "all"
  for r in rows.values():
    assert r["fwd_bwd_ms"] > r["fwd_ms"] > 0 and r["fraction_of_peak"] > 0
    assert r["fwd_bwd_call_ms"] > 0 and r["scan_steps"] >= 10
  lines = report._transformer_backward(back)
  assert "inside a jitted scan of 10 steps" in lines[0]
  body = [line for line in lines if line.startswith("| mqar |")]
  assert len(body) == 1 and body[0].count("|") == 12
  # a results.json from before the one-call column renders it as "-"
  old = {"matmul_peak_flop_per_s": 1e9,
         "rows": [{k: v for k, v in rows["mqar"].items()
                   if k not in ("fwd_bwd_call_ms", "scan_steps")}]}
  assert "one jitted call" in report._transformer_backward(old)[0]
  assert " | - | " in report._transformer_backward(old)[-2]


def test_backcopy_peers_are_rendered():
  row = lambda case, sps: {"case": case, "steps_per_s": sps, "first_block_s": 1.0}
  mqar_only = {"config": "mqar", "batch_size": 64, "rows": [row("icl full read-out", 5.0)],
               "ratios": {}, "skipped": {}}
  peer = {"batch_size": 32, "seq_len": 256, "d_model": 64, "num_layers": 1,
          "num_heads": 1, "rows": [row("icl", 30.0), row("icl sampler alone", 60.0),
                                   row("torch threads=1", 12.0), row("torch threads=2", 15.0)],
          "ratios": {"icl vs torch": 2.0, "icl less its sampler vs torch": 4.0}}
  lines = report._token_peers(dict(mqar_only, peers={"backcopy": peer}))
  assert lines[:len(report._token_peers(mqar_only))] == report._token_peers(mqar_only)
  assert "| config | batch | T | d | layers x heads | icl | sampler | torch threads=1 | " \
         "torch threads=2 | icl / torch | (less sampler) |" in lines
  assert "| backcopy | 32 | 256 | 64 | 1 x 1 | 30.0 | 60.0 | 12.0 | 15.0 | 2.00x | 4.00x |" \
      in lines

  without_torch = dict(peer, rows=peer["rows"][:2], ratios={})
  lines = report._token_peers(dict(mqar_only, peers={"backcopy": without_torch}))
  assert "| config | batch | T | d | layers x heads | icl | sampler | icl / torch | " \
         "(less sampler) |" in lines
  assert "| backcopy | 32 | 256 | 64 | 1 x 1 | 30.0 | 60.0 | - | - |" in lines
