#!/usr/bin/env bash
# The GPU figures in one go, on one CUDA GPU, in well under 8 minutes:
#   1. the CUDA tests of the device data path (they are skipped on machines without a GPU),
#   2. every figure: each compute setting alone, the bare-step limit, this engine and the plain
#      DataLoader loop for ResNet-18/50/101 at 224 px, and the largest batch that fits,
#   3. torch.compile on its own (compiling takes a minute or more, so it has its own time limit).
# Results: OUT_DIR/gpu_figures.json and OUT_DIR/gpu_figures.md, plus the logs.
# Usage: scripts/gpu_figures.sh [OUT_DIR]     (default: gpu-figures)
set -uo pipefail
out=$(realpath -m "${1:-gpu-figures}")
mkdir -p "$out"
export PYTHONUNBUFFERED=1
python=${PYTHON:-python3}
cd "$(dirname "$0")/.."

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$out/gpu.txt"
timeout 90 "$python" -m pytest -q -p no:cacheprovider tests/training/test_device_images.py 2>&1 \
  | tail -n 15 | tee "$out/cuda-tests.log"
timeout 300 "$python" -m resnet_core bench --gpu-figures --device cuda --out "$out/gpu_figures.json" \
  > "$out/figures.log" 2>&1
echo "figures: exit $?" | tee -a "$out/figures.log"
timeout 150 "$python" -m resnet_core bench --gpu-figures --device cuda --parts compile \
  --out "$out/gpu_figures.json" > "$out/compile.log" 2>&1
echo "compile: exit $? (124: it ran past its 150 s limit)" | tee -a "$out/compile.log"
cat "$out/gpu_figures.md" 2>/dev/null || tail -n 30 "$out/figures.log"
