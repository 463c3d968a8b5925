#!/usr/bin/env bash
# The GPU figures in one go, on one CUDA GPU, in under 8 minutes (480 s) all told:
#   1. the CUDA tests of the device data path (they are skipped on machines without a GPU),
#   2. each compute setting alone and the bare-step limit for ResNet-18/50/101 at 224 px,
#   3. this engine and the plain DataLoader loop per depth,
#   4. the largest batch that fits per depth, beside the memory the image cache may take,
#   5. torch.compile, default mode, then 6. mode max-autotune-no-cudagraphs (compiling takes a
#      minute or more, autotuning longer: they come last, so a timeout there loses nothing else).
# Each call is its own process with its own time limit and merges its results into the same JSON
# when it ends, so a call that runs out of time loses only its own figures (knobs and limit share
# a call, as do engine and plain).
#
# Time budget (seconds):           tests 45 · knobs+limit 60 · engine+plain 150 · max_batch 75
#                                  compile 75 · compile_autotune 60 = 465 of limits, plus ~10 for
# nvidia-smi and the summary. A part never gets more than what is left of TOTAL_S (plus 5 s for a
# killed part to go), and one with under 15 s left is skipped (said in its log).
# Results: OUT_DIR/gpu_figures.json and OUT_DIR/gpu_figures.md, plus a log per part.
# Usage: scripts/gpu_figures.sh [OUT_DIR]     (default: gpu-figures)
set -uo pipefail
out=$(realpath -m "${1:-gpu-figures}")
mkdir -p "$out"
export PYTHONUNBUFFERED=1
python=${PYTHON:-python3}
cd "$(dirname "$0")/.."
TOTAL_S=${TOTAL_S:-470}  # the parts' own limits stop within this; the summary after them takes a second

# run_part NAME BUDGET_S COMMAND...: the command under min(BUDGET_S, what is left), its output in NAME.log
run_part() {
  local name=$1 budget=$2
  shift 2
  local left=$((TOTAL_S - SECONDS))
  local limit=$((budget < left ? budget : left))
  if ((limit < 15)); then
    echo "$name: skipped, ${left}s left of the ${TOTAL_S}s budget" | tee "$out/$name.log"
    return
  fi
  timeout --kill-after=5 "$limit" "$@" > "$out/$name.log" 2>&1
  echo "$name: exit $? after $((SECONDS))s in all (124: it ran past its ${limit}s limit)" | tee -a "$out/$name.log"
}

# Every part's bench call shares the JSON, and the workdir keeps the JPEG folder between calls.
figures=("$python" -m resnet_core bench --gpu-figures --device cuda --workdir "$out/work"
         --out "$out/gpu_figures.json" --parts)

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$out/gpu.txt"
run_part cuda-tests 45 "$python" -m pytest -q -p no:cacheprovider tests/training/test_device_images.py
tail -n 15 "$out/cuda-tests.log"
run_part knobs-limit 60 "${figures[@]}" knobs,limit
run_part engine-plain 150 "${figures[@]}" engine,plain
run_part max-batch 75 "${figures[@]}" max_batch
# Cold compiles only: a cache left by an earlier try would report a compile time that is not one.
export TORCHINDUCTOR_FORCE_DISABLE_CACHES=1
run_part compile 75 "${figures[@]}" compile
run_part compile-autotune 60 "${figures[@]}" compile_autotune
cat "$out/gpu_figures.md" 2>/dev/null || tail -n 30 "$out"/*.log
