#!/usr/bin/env bash
# How fast this machine's CPU is right now: seconds for a fixed single-threaded awk loop.
# Shared virtual machines change speed over time (neighbours, throttling); every flow bench
# prints this next to its figures, so figures taken at different speeds can be told apart.
# See bench/README.md for what it read when the figures there were taken.
set -euo pipefail
start=$(date +%s.%N)
awk 'BEGIN { s = 0; for (i = 0; i < 30000000; i++) s += i; if (s < 0) print s }'
end=$(date +%s.%N)
awk -v a="$start" -v b="$end" 'BEGIN { printf "cpu calibration (awk loop of 3e7): %.2f s\n", b - a }'
