#!/usr/bin/env bash
# Installs what is missing, builds everything, and runs every test through ctest: unit and
# actor suites (doctest), then the end-to-end scripts that start the real medflowd; then the
# whole suite once more built with ASan and UBSan when MEDFLOW_SANITIZED=1 (scripts/
# test_sanitized.sh, build-asan/; off by default again until its run on the merged tree is
# green: test_actors' exams notification_sender fixture leaks its actors under LSan); then the fuzz targets for a short while each (scripts/fuzz.sh;
# MEDFLOW_FUZZ_SECONDS, default 30). Prints how long each step took.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
took() { echo "test.sh: $1 at $(($(date +%s) - start)) s"; }
bash scripts/setup.sh
bash scripts/build.sh
took "setup and build done"
(cd build && ctest --output-on-failure -j "$(nproc 2>/dev/null || echo 2)" "$@")
took "ctest done"
if [ "${MEDFLOW_SANITIZED:-0}" = 1 ]; then
  bash scripts/test_sanitized.sh "$@"
  took "sanitized build and ctest done"
fi
bash scripts/fuzz.sh "${MEDFLOW_FUZZ_SECONDS:-30}"
took "fuzz done, all"
