#!/usr/bin/env bash
# Cross-builds the kbnn kernel library for AArch64 and ARMv7 (hard float, NEON) and runs the tests
# under qemu-user:
#   1. the whole GoogleTest suite through ctest (bconv2d sweep size: KBNN_SWEEP_CONFIGS),
#   2. the NEON microkernel tests with the NEON ISA forced (KBNN_KERNEL=neon), which must report
#      that NEON was selected and match the reference,
#   3. a kbnn_bench smoke run with --kernel=neon (exit status only; qemu timings mean nothing).
#
# Usage: kernels/scripts/test_arm.sh [aarch64] [armv7]      (default: both)
# Env:   KBNN_SWEEP_CONFIGS  randomized configs per ISA in the bconv2d sweep (default 400, the
#                            native default: ~2-4 s per target under qemu on 2 cores)
#        KBNN_ARM_JOBS       build / ctest parallelism (default 2)
#        KBNN_ARM_BENCH=0    skip the benchmark smoke run
# Build dirs: build/kernels-aarch64, build/kernels-armv7 at the repository root (reused).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KERNELS="$ROOT/kernels"
JOBS="${KBNN_ARM_JOBS:-2}"
export KBNN_SWEEP_CONFIGS="${KBNN_SWEEP_CONFIGS:-400}"
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(aarch64 armv7)

SUMMARY=()
T_START=$SECONDS

log() { printf '\n==== [test_arm %s] %s\n' "$1" "$2"; }
die() { printf '\nERROR [test_arm %s] %s\n' "$1" "$2" >&2; print_summary; exit 1; }
print_summary() {
  printf '\n==== test_arm summary (KBNN_SWEEP_CONFIGS=%s, %ss total)\n' "$KBNN_SWEEP_CONFIGS" \
    "$((SECONDS - T_START))"
  local line
  for line in "${SUMMARY[@]}"; do printf '  %s\n' "$line"; done
}

run_target() {
  local t="$1" triple toolchain qemu build
  case "$t" in
    aarch64) triple=aarch64-linux-gnu; qemu=qemu-aarch64 ;;
    armv7) triple=arm-linux-gnueabihf; qemu=qemu-arm ;;
    *) die "$t" "unknown target '$t' (aarch64 | armv7)" ;;
  esac
  toolchain="$KERNELS/cmake/toolchains/$triple.cmake"
  build="$ROOT/build/kernels-$t"
  command -v "$triple-g++" >/dev/null || die "$t" "$triple-g++ not found (apt-get install g++-$triple)"
  command -v "$qemu" >/dev/null || die "$t" "$qemu not found (apt-get install qemu-user)"

  local t0=$SECONDS
  # The benchmark is built (for a smoke run) only once its sources exist.
  local bench=OFF
  [ -f "$KERNELS/bench/kbnn_bench.cc" ] && [ "${KBNN_ARM_BENCH:-1}" != 0 ] && bench=ON
  if [ ! -f "$build/CMakeCache.txt" ]; then
    log "$t" "configure $build"
    local gen=()
    command -v ninja >/dev/null && gen=(-G Ninja)
    cmake -S "$KERNELS" -B "$build" "${gen[@]}" -DCMAKE_TOOLCHAIN_FILE="$toolchain" \
      -DCMAKE_BUILD_TYPE=Release -DKBNN_BUILD_TESTS=ON -DKBNN_BUILD_BENCH=$bench -Wno-deprecated ||
      die "$t" "configure failed"
  else
    log "$t" "reuse $build"
    cmake -S "$KERNELS" -B "$build" -DKBNN_BUILD_TESTS=ON -DKBNN_BUILD_BENCH=$bench -Wno-deprecated \
      >/dev/null || die "$t" "re-configure failed"
  fi
  log "$t" "build (-j$JOBS)"
  cmake --build "$build" -j "$JOBS" || die "$t" "build failed"
  local t_build=$((SECONDS - t0))

  # 1. Whole suite under qemu (CMAKE_CROSSCOMPILING_EMULATOR from the toolchain file).
  t0=$SECONDS
  log "$t" "ctest under $qemu"
  local ntests
  ntests=$(ctest --test-dir "$build" -N | sed -n 's/^Total Tests: //p')
  [ "${ntests:-0}" -gt 0 ] || die "$t" "ctest found no tests in $build"
  ctest --test-dir "$build" --output-on-failure -j "$JOBS" || die "$t" "ctest failed"
  local t_ctest=$((SECONDS - t0))

  # 2. NEON forced: find the test binary that holds the NEON tests and run them with KBNN_KERNEL=neon.
  t0=$SECONDS
  local bin=""
  while IFS= read -r f; do
    if grep -q "NeonBgemmUkernel" "$f" 2>/dev/null; then bin="$f"; break; fi
  done < <(find "$build" -type f -perm -u+x ! -name '*.so*' ! -path '*/CMakeFiles/*' | sort)
  [ -n "$bin" ] || die "$t" "no test binary containing the NEON tests under $build"
  log "$t" "forced NEON: KBNN_KERNEL=neon $qemu $(basename "$bin") --gtest_filter=Neon*"
  local out
  out=$(KBNN_KERNEL=neon "$qemu" -L "/usr/$triple" "$bin" --gtest_filter='Neon*' 2>&1) || {
    printf '%s\n' "$out"; die "$t" "forced-NEON tests failed"; }
  printf '%s\n' "$out" | grep -E '^\[( NEON|  PASSED|  FAILED|  SKIPPED)' || true
  printf '%s\n' "$out" | grep -q '^\[  PASSED  \]' || die "$t" "forced-NEON run did not pass"
  printf '%s\n' "$out" | grep -q '^\[  SKIPPED' && die "$t" "forced-NEON tests were skipped"
  printf '%s\n' "$out" | grep -q '^\[ NEON     \] selected isa=neon' ||
    die "$t" "forced-NEON run did not prove that the dispatcher selected NEON"
  local t_neon=$((SECONDS - t0))

  # 3. Benchmark smoke run (correct exit and the NEON kernel in use; qemu timings are not
  #    performance numbers and are not printed).
  local bench_note="benchmark not built"
  local bb="$build/bench/kbnn_bench"
  if [ "${KBNN_ARM_BENCH:-1}" != 0 ] && [ -x "$bb" ]; then
    log "$t" "benchmark smoke: kbnn_bench --kernel=neon --reps=1 --min_time=0 (qemu: timings meaningless)"
    if timeout 300 "$qemu" -L "/usr/$triple" "$bb" --threads=2 --reps=1 --min_time=0 --kernel=neon \
      >"$build/bench_smoke.log" 2>&1; then
      grep -q "neon" "$build/bench_smoke.log" ||
        die "$t" "benchmark smoke did not run a NEON kernel (log: $build/bench_smoke.log)"
      bench_note="bench smoke ok"
    else
      tail -n 20 "$build/bench_smoke.log"
      die "$t" "benchmark smoke run failed (log: $build/bench_smoke.log)"
    fi
  fi
  SUMMARY+=("$t: build ${t_build}s | ctest ${ntests} tests passed ${t_ctest}s | forced NEON ok ${t_neon}s | $bench_note")
}

for t in "${TARGETS[@]}"; do run_target "$t"; done
print_summary
printf '  ALL ARM CHECKS PASSED\n'
