#!/usr/bin/env bash
# The GPU/TPU check of icl: one prepared script, < 8 minutes on one GPU.
#
#   OUT=/tmp/dc bash benchmarks/device_check.sh          # on the accelerator machine
#   OUT=/tmp/dc bash benchmarks/device_check.sh --tiny   # end to end on a CPU, tiny sizes
#
# Writes into $OUT (default ./device_check_out): summary.json (every step's exit code
# and wall time, the device), tests.log / tests.xml (the device-relevant tests),
# regression_run.log (+ its wall time), device_check.json (vmapped seeds 1/16/64/256,
# heads sweep, MQAR `long`, peak memory: benchmarks/device_check.py), nvidia-smi.txt.
# Each step has a time limit (together 7.5 min; x LIMIT_SCALE, default 1, 4 with --tiny
# for a busy CPU); a failing step is recorded and the next one runs.
# $PYTHON (default: python) must import jax with the accelerator's plugin.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-device_check_out}
PY=${PYTHON:-python}
TINY=0
[ "${1:-}" = "--tiny" ] && TINY=1
SCALE=${LIMIT_SCALE:-$([ $TINY = 1 ] && echo 4 || echo 1)}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export ICL_COMPILATION_CACHE=${ICL_COMPILATION_CACHE:-0}  # time cold compiles
STEPS_JSON="$OUT/steps.jsonl"
: > "$STEPS_JSON"

step() {  # step NAME LIMIT_S CMD...: runs CMD with a limit, logs rc and wall time
  local name=$1 limit=$(( $2 * SCALE )); shift 2
  local t0=$(date +%s%N)
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  local wall=$(( ms / 1000 )).$(printf '%03d' $(( ms % 1000 )))
  echo "{\"step\": \"$name\", \"rc\": $rc, \"wall_s\": $wall}" >> "$STEPS_JSON"
  echo "$name: rc=$rc wall=${wall}s"
}

(nvidia-smi || true) > "$OUT/nvidia-smi.txt" 2>&1
step devices 30 "$PY" -c "import jax; print(jax.devices()); print(jax.default_backend())"

# 1. The tests that matter for devices: sharding, seeds = single-seed runs,
#    determinism and resumption, memory bounds, the loss-position read-out. The CLI
#    subprocesses of these tests default to JAX_PLATFORMS=cpu unless it is set: set it
#    to the accelerator so that they run there too.
TESTS="tests/reliability/test_determinism.py tests/train/test_trainer.py::test_seeds_are_the_single_seed_runs tests/train/test_trainer.py::test_resume_gives_the_uninterrupted_result tests/sweep/test_sharding.py tests/reliability/test_memory.py tests/train/test_readout_positions.py::test_mqar_same_loss_and_gradients"
if [ $TINY = 1 ]; then
  TESTS="tests/train/test_readout_positions.py::test_positions_select_the_full_output_rows"
fi
PLATFORM=$("$PY" -c "import jax; print(jax.default_backend())" 2>/dev/null || echo cpu)
JAX_PLATFORMS=$PLATFORM step tests 150 "$PY" -m pytest -q -p no:cacheprovider \
  --junitxml="$OUT/tests.xml" $TESTS

# 2. The default regression run (20k steps, H = 2), whole process, cold compile.
if [ $TINY = 1 ]; then REG="--config=configs/regression.py --config.train.num_steps=500 --config.train.log_every=100 --config.train.eval_every=500 --config.train.ckpt_every=500 --config.eval.num_prompts=1024"
else REG="--config=configs/regression.py"; fi
rm -rf "$OUT/regression_run"
step regression_run 120 "$PY" -m icl.train $REG --workdir="$OUT/regression_run"

# 3. Vmapped seeds, heads sweep, MQAR long, peak memory (one process).
step device_check 150 "$PY" -m benchmarks.device_check --out="$OUT/device_check.json" \
  $([ $TINY = 1 ] && echo --tiny)

"$PY" - "$OUT" <<'PYEOF'
import json, os, sys
out = sys.argv[1]
steps = [json.loads(l) for l in open(os.path.join(out, "steps.jsonl"))]
summary = {"steps": steps}
path = os.path.join(out, "device_check.json")
if os.path.exists(path):
  summary["device_check"] = json.load(open(path))
run = os.path.join(out, "regression_run", "metrics.jsonl")
if os.path.exists(run):
  lines = [json.loads(l) for l in open(run) if l.strip()]
  summary["regression_last_metrics"] = lines[-1] if lines else None
json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=1)
print(json.dumps({s["step"]: [s["rc"], round(s["wall_s"], 1)] for s in steps}))
PYEOF
