#!/usr/bin/env bash
# Where medflowd's CPU goes (issue 20): perf samples of the running daemon while a bench drives
# it, then the self time summed by layer (HTTP, JSON, schema, SQLite, actors, writer, allocation,
# kernel, ...) and the top symbols. Method and figures: bench/README.md "Profiles".
#
#   bash bench/profile.sh [jobs|batches|both] [seconds]      (default both, 15 s)
#
# Needs linux-perf and root (or perf_event_paranoid <= 0: it samples system-wide). Samples at 999 Hz
# with frame-pointer call chains; the layer table uses each sample's own (self) symbol, which
# does not need call chains. Output: build/profile/<case>.{data,top.txt,layers.txt}.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
what=${1:-both}
secs=${2:-15}
out=build/profile
mkdir -p "$out"
command -v perf >/dev/null || { echo "profile.sh: perf not found (apt-get install linux-perf)" >&2; exit 1; }

# DEEP=1: first a profile with DWARF call chains of medflowd's threads alone (`perf record -p`,
# 1999 Hz, 4 s), then the system-wide one as without it (the jobs load runs 5 s longer for it),
# for what calls what: build/profile/<case>.deep.{data,txt}, the CPU by thread (what is serial:
# the writer), and what runs under the writer's units (bench/profile_under.py, which takes any
# other frame name too). Any other value of DEEP: no DWARF profile.
deep=${DEEP:-0}
deep_secs=0
[ "$deep" = 1 ] && deep_secs=5

# The loads: each runs against $medflowd_url / $data until it ends or is stopped.
load_jobs() {
  build/bench/me_bench "$medflowd_url" "$data/medflow.db" --patients 2000 --connections 32 \
    --seconds $((secs + 6 + deep_secs)) --rate 0
}
# The HRI bench first measures the raw bus append (its ceiling), then the batch: the profile
# starts when the batch's stream exists, so it samples validation (with the appends to .in).
load_batches() { build/bench/hri_bench "$medflowd_url" --records 400000 --validator fhir; }
started_batches() {
  curl -s "$medflowd_url/topics" | grep -q '"ingest.bench.s1.in"'
}
# The jobs bench first sets up its patients and measures /healthz (5 s at tens of thousands
# of requests/s, all on the I/O thread): the profile starts with the jobs.
started_jobs() { grep -q '^jobs: started' "$out/jobs.load.txt"; }

profile() {  # profile NAME: medflowd under load_NAME, sampled for $secs seconds
  local name=$1
  data=$(mktemp -d)
  start_medflowd "$data" --set hri.auth.disabled=true --set hri.completion_delay_ms=0
  "load_$name" >"$out/$name.load.txt" 2>&1 &
  local load=$!
  sleep 3  # the load's set-up (patients, topics) is not what is profiled
  local waited=0
  until "started_$name" || [ "$waited" -ge 1200 ]; do
    sleep 0.05
    waited=$((waited + 1))
  done
  if [ "$deep" = 1 ]; then
    perf record -p "$medflowd_pid" -F 1999 --call-graph dwarf,16384 -o "$out/$name.deep.data" \
      -- sleep 4 >/dev/null 2>&1 || { echo "profile.sh: the DWARF profile failed" >&2; deep=0; }
  fi
  # System-wide, reported for medflowd's pid only: `-p` would miss threads started later (the
  # HRI validators start with the first batch).
  perf record -a -F 999 -g -o "$out/$name.data" -- sleep "$secs" >/dev/null 2>&1
  local pid=$medflowd_pid
  stop_medflowd  # before the load ends: what it prints on a closed server is not a result
  kill "$load" 2>/dev/null || true
  wait "$load" 2>/dev/null || true
  rm -rf "$data"
  perf report -i "$out/$name.data" --pid "$pid" --percentage relative --no-children --sort dso,symbol --stdio -g none \
    --percent-limit 0.4 2>/dev/null | grep -E '^ +[0-9]' | sed -E 's/ +- +- *$//; s/ +$//' |
    sed -E 's/nlohmann::json_abi_v3_11_2::basic_json<[^>]*<[^>]*>[^>]*>[^>]*>[^>]*>[^>]*>/json/g' |
    cut -c1-160 | head -40 >"$out/$name.top.txt"
  perf report -i "$out/$name.data" --pid "$pid" --percentage relative --no-children --sort dso,symbol --stdio -g none \
    2>/dev/null | python3 bench/profile_layers.py >"$out/$name.layers.txt"
  echo "== $name: by layer (self time)"
  cat "$out/$name.layers.txt"
  echo "== $name: top symbols (self time)"
  head -25 "$out/$name.top.txt"
  if [ "$deep" = 1 ]; then
    echo "== $name: CPU by thread (DWARF profile, medflowd only)"
    perf report -i "$out/$name.deep.data" --no-children --sort comm --stdio -g none 2>/dev/null |
      grep -E '^ +[0-9]' | head -12 || true
    perf script -i "$out/$name.deep.data" 2>/dev/null >"$out/$name.deep.txt"
    echo "== $name: under the writer's group commit"
    python3 bench/profile_under.py store::writer::run_batch <"$out/$name.deep.txt"
  fi
}

case $what in
  jobs | both) profile jobs ;;&
  batches | both) profile batches ;;
esac
