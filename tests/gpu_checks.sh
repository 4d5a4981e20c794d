#!/usr/bin/env bash
# Everything the CUDA backend owes a real GPU, in one call of the device tool. Prepare it here
# with tests/gpu_pack.sh (it builds the CUDA programs into .gpu/), then run on the GPU machine:
#
#   tests/gpu_checks.sh [STAGE ...]     (no STAGE: all of them, in this order)
#
#   env       nvidia-smi; checks that .gpu/bin's programs load, else rebuilds them there
#   parity    the device parity suite: tests -tc="*cuda*" (every op, both GEMMs, ContextUnet,
#             50 training steps on CPU and GPU)
#   lesson    lesson01 train --device cuda (quick preset, MNIST), then samples from that
#             checkpoint on the GPU (with the trajectory GIF) and on the CPU
#   bench     tests/bench/compare.sh over the *_cuda cases beside PyTorch's eager CUDA step,
#             then the same cases with TINYDIFF_GEMM=tiled
#   memcheck  compute-sanitizer memcheck, then racecheck, over the parity suite (not the
#             training cases nor the lesson run, which are long under the sanitizer and use the
#             same kernels)
#   test      the whole suite in the CUDA build (on .gpu/data's sprite subset)
#
# The order is the order of importance: device time is short (15 minutes a task, start-up
# included), so every stage runs under `timeout` and the stages share one budget,
# GPU_CHECKS_BUDGET seconds (default 500); a stage that no longer fits is skipped. Each stage
# prints "gpu_checks: STAGE ok|FAILED|TIMEOUT|SKIPPED (N s)"; the script exits non-zero if any
# stage did not pass. Into $OUT (default build/gpu-checks) go summary.txt, logs.tar.gz (every
# log, benchmark JSON line and loss curve) and the pictures: at most 8 files, as the device
# tool returns.
set -uo pipefail
cd "$(dirname "$0")/.."

out=${OUT:-build/gpu-checks}
logs=build/gpu-checks-logs
budget=${GPU_CHECKS_BUDGET:-500}
bin=.gpu/bin
mkdir -p "$out" "$logs"
rm -f "$logs"/*
export TINYDIFF_DATA=${TINYDIFF_DATA:-.gpu/data}
export LD_LIBRARY_PATH=$PWD/.gpu/lib:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export PYTHON=${PYTHON:-python3}  # the GPU machine's python3 is the one with CUDA PyTorch
sanitizer=${COMPUTE_SANITIZER:-$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)}
export bin out logs sanitizer  # the stages after env run in subshells, under timeout

# Adds the folder of each CUDA library the programs cannot find (a toolkit in another place,
# or the copies inside PyTorch's wheels) to LD_LIBRARY_PATH.
find_missing_libraries() {
  local lib dir
  for lib in $(ldd "$bin/tests" | awk '/not found/ { print $1 }'); do
    dir=$(find /usr/local /usr/lib /opt -name "$lib" -print -quit 2>/dev/null | xargs -r dirname)
    echo "gpu_checks: $lib ${dir:+found in $dir}${dir:-not found anywhere}"
    [ -n "$dir" ] && export LD_LIBRARY_PATH=$dir:$LD_LIBRARY_PATH
  done
}

# The fallback: the headers and libstb from .gpu/ where the build looks for them, then make.
rebuild_here() {
  echo "gpu_checks: rebuilding with make CUDA=1 on this machine"
  cp -r .gpu/include/* /usr/include/ &&
    cp .gpu/lib/libstb.so.0 /usr/lib/x86_64-linux-gnu/ &&
    ln -sf libstb.so.0 /usr/lib/x86_64-linux-gnu/libstb.so &&
    { [ -e /usr/lib/x86_64-linux-gnu/libz.so ] || ln -sf libz.so.1 /usr/lib/x86_64-linux-gnu/libz.so; } &&
    make CUDA=1 -j"$(nproc)" build/tests build/lesson01 build/bench &&
    bin=build
}

stage_env() {
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || return 1
  nvidia-smi
  find_missing_libraries
  if ! "$bin/tests" -ltc > /dev/null; then rebuild_here || return 1; fi
  "$bin/tests" -ltc -tc="*cuda*" | tail -n 2
}

# Fails if a case skipped for want of a GPU (tests/cuda_parity.hpp's gpu_or_skip): then the
# programs did not see it. Two cases do skip on a GPU machine, the errors that only a machine
# without CUDA can give. (The loop below sends each stage's output to $logs/STAGE.log.)
stage_parity() {
  "$bin/tests" -tc="*cuda*" && ! grep -q "skipped\] no CUDA GPU visible" "$logs/parity.log"
}

stage_lesson() {
  local run=build/gpu-checks-run
  rm -rf "$run"
  "$bin/lesson01" train --dataset mnist --device cuda --out "$run" &&
    "$bin/lesson01" sample --ckpt "$run/ckpt.safetensors" --device cuda --w 2 \
      --png "$out/lesson01_samples_cuda.png" --gif "$out/lesson01_trajectory_cuda.gif" &&
    "$bin/lesson01" sample --ckpt "$run/ckpt.safetensors" --device cpu --w 2 --sampler ddim \
      --steps 25 --png "$out/lesson01_samples_cpu_ddim25.png" &&
    cp "$run/loss.csv" "$logs/" && cp "$run/loss.svg" "$out/lesson01_loss.svg"
}

stage_bench() {
  mkdir -p build/bench-gpu && cp "$bin/bench" build/bench-gpu/bench &&
    BENCH_ARGS="--repeat 30 --warmup 5" tests/bench/compare.sh build/bench-gpu '*_cuda' \
      > "$logs/bench_cuda.md" &&
    cp build/bench-gpu/bench-tinydiff.jsonl build/bench-gpu/bench-pytorch.jsonl "$logs/" &&
    TINYDIFF_GEMM=tiled "$bin/bench" --case '*_cuda' --repeat 10 --warmup 3 \
      > "$logs/bench_cuda_tiled.jsonl" &&
    cat "$logs/bench_cuda.md"
}

stage_memcheck() {
  local suite=(-tc="*cuda*" -tce="*training*,*lesson01*")
  "$sanitizer" --tool memcheck --error-exitcode 1 "$bin/tests" "${suite[@]}" &&
    "$sanitizer" --tool racecheck --error-exitcode 1 "$bin/tests" "${suite[@]}"
}

# Everything but the one case that counts the whole sprite file (.gpu/ holds 4096 sprites).
stage_test() {
  "$bin/tests" -tce="the real MNIST and sprites load quickly*"
}

# Seconds each stage may take at most; the budget may grant less.
declare -A cap=([env]=150 [parity]=200 [lesson]=200 [bench]=200 [memcheck]=180 [test]=300)
stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(env parity lesson bench memcheck test)
[ "${stages[0]}" = env ] || stages=(env "${stages[@]}")  # every run needs the programs
for stage in "${stages[@]}"; do
  [ -n "${cap[$stage]:-}" ] ||
    { echo "gpu_checks: unknown stage '$stage' (env parity lesson bench memcheck test)" >&2; exit 2; }
done

failed=0
for stage in "${stages[@]}"; do
  left=$((budget - SECONDS))
  limit=$((cap[$stage] < left ? cap[$stage] : left))
  if [ "$limit" -lt 30 ]; then
    result=SKIPPED
  else
    start=$SECONDS
    # env runs in this shell (it may switch $bin); the others under timeout, in a subshell.
    if [ "$stage" = env ]; then
      stage_env > "$logs/$stage.log" 2>&1
    else
      timeout "$limit" bash -c "$(declare -f "stage_$stage"); stage_$stage" > "$logs/$stage.log" 2>&1
    fi
    case $? in 0) result=ok ;; 124) result=TIMEOUT ;; *) result=FAILED ;; esac
    result="$result ($((SECONDS - start)) s of $limit)"
  fi
  [[ $result == ok* ]] || failed=1
  echo "gpu_checks: $stage $result" | tee -a "$logs/summary.txt"
  [ -f "$logs/$stage.log" ] && tail -n 4 "$logs/$stage.log"
  [ "$stage" = env ] && [[ $result != ok* ]] && break  # nothing else can run
done

cp "$logs/summary.txt" "$out/summary.txt"
[ -f "$logs/bench_cuda.md" ] && cp "$logs/bench_cuda.md" "$out/"
tar -czf "$out/logs.tar.gz" -C "$(dirname "$logs")" "$(basename "$logs")"
echo "gpu_checks: logs in $out/logs.tar.gz"
cat "$out/summary.txt"
exit $failed
