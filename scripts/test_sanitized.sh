#!/usr/bin/env bash
# Builds the whole tree (medflowd, tools, every test) with AddressSanitizer and
# UndefinedBehaviorSanitizer at -O1 into build-asan/ (CMake option MEDFLOW_SANITIZE) and runs
# the whole ctest suite there once: the end-to-end scripts then start the sanitized medflowd
# (they find it through the build directory). Any report (a memory error, a leak at exit, any
# undefined behaviour) fails the test that triggered it. The ctest time limits there are
# MEDFLOW_TEST_TIMEOUT_SCALE (default 3) times the normal ones: the sanitized code runs several
# times slower. Extra arguments go to ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
start=$(date +%s)
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMEDFLOW_SANITIZE=ON \
  -DMEDFLOW_TEST_TIMEOUT_SCALE="${MEDFLOW_TEST_TIMEOUT_SCALE:-3}" >/dev/null
cmake --build build-asan -j "$jobs"
echo "sanitized: built in $(($(date +%s) - start)) s"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}
(cd build-asan && ctest --output-on-failure -j "$jobs" "$@")
echo "sanitized: $(($(date +%s) - start)) s in all"
