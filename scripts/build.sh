#!/usr/bin/env bash
# Configures and builds medflowd, its tests and benchmarks (optimised) into build/.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
# Says what it does: a first build compiles a few hundred files (minutes on two cores); make's
# [ n%] lines show how far it is.
echo "build: configuring build/ (cmake, Release)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
echo "build: compiling ${*:-everything} with $jobs jobs"
cmake --build build -j "$jobs" "$@"
echo "build: done"
