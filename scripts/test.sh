#!/usr/bin/env bash
# Installs what is missing, builds everything, and runs every test through ctest: unit and
# actor suites (doctest), then the end-to-end scripts that start the real medflowd; then the
# whole suite once more built with ASan and UBSan when MEDFLOW_SANITIZED=1 (scripts/test_sanitized.sh,
# build-asan/; not yet on by default: its first full run has not been made); then the fuzz targets for a short while each (scripts/fuzz.sh;
# MEDFLOW_FUZZ_SECONDS, default 30).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
(cd build && ctest --output-on-failure -j "$(nproc 2>/dev/null || echo 2)" "$@")
[ "${MEDFLOW_SANITIZED:-0}" = 0 ] || bash scripts/test_sanitized.sh "$@"
bash scripts/fuzz.sh "${MEDFLOW_FUZZ_SECONDS:-30}"
