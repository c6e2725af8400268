#!/usr/bin/env bash
# The one prepared GPU check for the fast engine (issue 8) and the torchrun path (issue 9).
#
# Run from the repository root on a machine with one or more CUDA GPUs and a python3 that has
# torch (CUDA build), numpy, h5py, click, scikit-learn, tqdm and pytest (the project need not be
# installed: the repository root goes on PYTHONPATH):
#
#     bash benchmarks/gpu_check.sh              # logs and JSON under ${OUT:-gpu_check_out}/
#     PYTHON=.venv/bin/python bash benchmarks/gpu_check.sh
#
# What it runs, in this order, each step under its own time limit (about 8 minutes in all on an H200):
#   1. the GPU-marked tests: the engine on CUDA against the CPU in fp32/tf32/bf16, channels_last,
#      vmap groups automatic for small models and invariant to grouping             (<= 2 min)
#   2. benchmarks/surface_speed.py --case gpu-resnet56: ResNet-56 and ResNet-56-noskip on 10,000
#      CIFAR-shaped samples, the reference loop (a) against the engine (b) in fp32/tf32/bf16 plus
#      ablations; the table the acceptance criteria read (bf16 >= 20x, fp32/tf32 >= 6x)   (<= 4 min)
#   3. the same, bf16 + torch.compile, ResNet-56 only (does compiling win on the GPU?)   (<= 3 min)
#   4. benchmarks/distributed_speed.py --device cuda: the torchrun path on the GPU, 1 process
#      against 2 processes sharing it (gloo), files compared bit for bit               (<= 2 min)
# A step that fails or runs out of time is reported and the next one still runs.
set -uo pipefail
PY=${PYTHON:-python3}
OUT=${OUT:-gpu_check_out}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MPLBACKEND=Agg
status=0
step() {  # step NAME SECONDS COMMAND...
  local name=$1 limit=$2; shift 2
  echo "=== $name ($(date -u +%H:%M:%S), limit ${limit}s): $*"
  timeout "$limit" "$@" 2>&1 | tee "$OUT/$name.log"
  local rc=${PIPESTATUS[0]}
  [ "$rc" -eq 0 ] || { echo "=== $name FAILED (exit $rc)"; status=1; }
}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$OUT/gpu.txt"
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))" \
  | tee -a "$OUT/gpu.txt"
step tests 120 "$PY" -m pytest -m gpu tests/test_engine.py -q -p no:cacheprovider
step surface_speed 240 "$PY" benchmarks/surface_speed.py --case gpu-resnet56 --ablations \
  --json "$OUT/surface_speed.json"
step compile 180 "$PY" benchmarks/surface_speed.py --case gpu-resnet56 --models resnet56 --precisions bf16 \
  --compile --repeats 2 --json "$OUT/compile.json"
step distributed 120 "$PY" benchmarks/distributed_speed.py --device cuda --model resnet56 --samples 10000 \
  --grid 4 --batch-size 2000
echo "=== done ($(date -u +%H:%M:%S)); status $status"
exit $status
