#!/usr/bin/env bash
# Everything the CUDA backend needs from a machine with a GPU, stage by stage, with every log
# and picture written under $OUT (default build/gpu-checks). Run from the repository root:
#
#   tests/gpu_checks.sh [STAGE ...]        (no STAGE: all of them, in this order)
#
#   build     nvidia-smi, then `make CUDA=1` (library, tests, lessons, bench)
#   parity    the device parity suite: ./build/tests -tc="*cuda*"
#   memcheck  the parity suite under compute-sanitizer --tool memcheck, then racecheck and
#             synccheck (shared memory: GEMM, reductions, norms) without the 50-step training
#   test      the whole suite in the CUDA build (make CUDA=1 test)
#   lesson    lesson 01 on the GPU: train (quick preset, MNIST), then sample on the GPU and,
#             from the same checkpoint, on the CPU. Needs MNIST in $TINYDIFF_DATA or data/
#   bench     tests/bench/compare.sh on the GPU cases, cuBLAS then TINYDIFF_GEMM=tiled
#
# Each stage prints one line, "gpu_checks: STAGE ok|FAILED (N s) -> LOG", and the script exits
# non-zero if any stage failed. On the lent machines (10 minutes a command) run it in three
# calls: `build parity memcheck`, then `test`, then `lesson bench` (carry data/mnist).
set -uo pipefail
cd "$(dirname "$0")/.."

out=${OUT:-build/gpu-checks}
mkdir -p "$out"
jobs=$(nproc)
export TINYDIFF_DATA=${TINYDIFF_DATA:-data}
sanitizer=${COMPUTE_SANITIZER:-/usr/local/cuda/bin/compute-sanitizer}
failed=0

stage_build() {
  nvidia-smi > "$out/device.txt" 2>&1 || { echo "gpu_checks: nvidia-smi found no GPU"; return 1; }
  make CUDA=1 -j"$jobs" all
}

stage_parity() {
  ./build/tests -tc="*cuda*"
}

stage_memcheck() {
  "$sanitizer" --tool memcheck --error-exitcode 1 ./build/tests -tc="*cuda*" &&
    "$sanitizer" --tool racecheck --error-exitcode 1 ./build/tests -tc="*cuda*" \
      -tce="*cuda training*" &&
    "$sanitizer" --tool synccheck --error-exitcode 1 ./build/tests -tc="*cuda*" \
      -tce="*cuda training*"
}

stage_test() {
  make CUDA=1 test
}

stage_lesson() {
  local run=build/gpu-checks-run
  rm -rf "$run"
  ./build/lesson01 train --dataset mnist --device cuda --out "$run" &&
    ./build/lesson01 sample --ckpt "$run/ckpt.safetensors" --device cuda --w 2 \
      --png "$out/lesson01_samples_cuda.png" --gif "$out/lesson01_trajectory_cuda.gif" &&
    ./build/lesson01 sample --ckpt "$run/ckpt.safetensors" --device cpu --w 2 \
      --png "$out/lesson01_samples_cpu.png" &&
    cp "$run/loss.csv" "$run/loss.svg" "$out/"
}

stage_bench() {
  tests/bench/compare.sh build '*_cuda' > "$out/bench_cuda.md" &&
    cp build/bench-tinydiff.jsonl "$out/bench_cuda_tinydiff.jsonl" &&
    cp build/bench-pytorch.jsonl "$out/bench_cuda_pytorch.jsonl" &&
    TINYDIFF_GEMM=tiled build/bench --case '*_cuda' > "$out/bench_cuda_tiled.jsonl" &&
    cat "$out/bench_cuda.md"
}

stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(build parity memcheck test lesson bench)
for stage in "${stages[@]}"; do
  if ! declare -F "stage_$stage" > /dev/null; then
    echo "gpu_checks: unknown stage '$stage' (build parity memcheck test lesson bench)" >&2
    exit 2
  fi
  start=$SECONDS
  if "stage_$stage" > "$out/$stage.log" 2>&1; then result=ok; else result=FAILED; failed=1; fi
  echo "gpu_checks: $stage $result ($((SECONDS - start)) s) -> $out/$stage.log"
  tail -n 3 "$out/$stage.log"
done
exit $failed
