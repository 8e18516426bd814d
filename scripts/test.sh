#!/usr/bin/env bash
# Installs what is missing, builds everything, and runs every test through ctest: unit and
# actor suites (doctest), then the end-to-end scripts that start the real medflowd; then the
# whole suite once more built with ASan and UBSan (scripts/test_sanitized.sh, build-asan/;
# MEDFLOW_SANITIZED=0 skips it); then the fuzz targets for a short while each (scripts/fuzz.sh;
# MEDFLOW_FUZZ_SECONDS, default 30). Prints how long each step took.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
took() { echo "test.sh: $1 at $(($(date +%s) - start)) s"; }
bash scripts/setup.sh
# setup.sh installed PostgreSQL: its tests (the *_postgres entries) must run, not skip.
export MEDFLOW_REQUIRE_POSTGRES=1
bash scripts/build.sh
took "setup and build done"
(cd build && ctest --output-on-failure -j "$(nproc 2>/dev/null || echo 2)" "$@")
took "ctest done"
if [ "${MEDFLOW_SANITIZED:-1}" != 0 ]; then
  bash scripts/test_sanitized.sh "$@"
  took "sanitized build and ctest done"
fi
bash scripts/fuzz.sh "${MEDFLOW_FUZZ_SECONDS:-30}"
took "fuzz done, all"
