#!/usr/bin/env bash
# Runs on the GPU machine (copied there by ci/gpu-build.sh as gpu-bin/run.sh). Logs go
# to $OUT; the summary table is printed last. Order as in GPU-RUNS.md: bit comparisons,
# CPU-vs-GPU training, benchmarks, compute-sanitizer.
set -uo pipefail
cd "$(dirname "$0")" || exit 1
bash ./unpack.sh || exit 1 # the binaries travel xz-compressed (ci/gpu-build.sh)
export GMVAE_MNIST_DIR=${GMVAE_MNIST_DIR:-$PWD/mnist}
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
export GMVAE_REQUIRE_GPU=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/gpu.txt"
status=()
step() { # name, command...
  local name=$1; shift
  if "$@" >"$OUT/$name.log" 2>&1; then status+=("$name: ok"); else status+=("$name: FAILED (see $name.log)"); fi
  tail -3 "$OUT/$name.log"
}
step driver ./driver.test -test.v
step kernels ./kerneltest.test -test.v -test.run 'Device'
step backend ./engine.test -test.v -test.run 'GPUBackendLargeSizes'
step bench ./bench -device cuda -reps 20
step bench-vade ./bench -device cuda -vade -reps 3
if [ -x ./train ]; then
  step train-cpu ./train -device cpu -subset 2000 -epochs 1 -out "$OUT/run-cpu" -seed 1
  step train-gpu ./train -device cuda -subset 2000 -epochs 1 -out "$OUT/run-gpu" -seed 1
  # Model C's three stages with augmentation: the pretrained autoencoder, the fitted
  # prior and the trained model must be the same bytes on both devices.
  vade=(-model vade -subset 2000 -pretrain-epochs 1 -epochs 1 -augment-shift 3 -augment-rotate 10 -seed 1 -no-pictures)
  step vade-cpu ./train -device cpu "${vade[@]}" -out "$OUT/vade-cpu"
  step vade-gpu ./train -device cuda "${vade[@]}" -out "$OUT/vade-gpu"
  (cd "$OUT" && sha256sum run-cpu/*.safetensors run-gpu/*.safetensors vade-cpu/*.safetensors vade-cpu/pretrain/*.safetensors vade-gpu/*.safetensors vade-gpu/pretrain/*.safetensors 2>/dev/null) | tee "$OUT/checkpoints.sha256"
fi
if command -v compute-sanitizer >/dev/null; then
  step memcheck compute-sanitizer --tool memcheck ./kerneltest.test -test.run Device
  step racecheck compute-sanitizer --tool racecheck ./kerneltest.test -test.run Device
fi
cat "$OUT/bench.log" "$OUT/bench-vade.log" 2>/dev/null
printf '%s\n' "${status[@]}"
