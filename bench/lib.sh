# What the bench scripts share: starting medflowd on a free port and stopping it.
# Source it from the repository root. MEDFLOWD_BIN picks another binary (A/B runs).

# start_medflowd DATA_DIR [medflowd arguments...]: starts medflowd with its data in DATA_DIR
# (stdout and stderr in DATA_DIR/out and DATA_DIR/err), waits (at most 30 s) until it listens,
# and sets medflowd_pid and medflowd_url.
start_medflowd() {
  local data=$1
  shift
  mkdir -p "$data"
  ${MEDFLOWD_BIN:-build/medflowd} --port 0 --data-dir "$data" --set log.level=warn "$@" \
    >"$data/out" 2>"$data/err" &
  medflowd_pid=$!
  local waited=0
  until grep -q "listening on" "$data/out" 2>/dev/null; do
    if ! kill -0 "$medflowd_pid" 2>/dev/null || [ "$waited" -ge 600 ]; then
      echo "medflowd did not start:" >&2
      cat "$data/err" >&2
      return 1
    fi
    sleep 0.05
    waited=$((waited + 1))
  done
  medflowd_url=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$data/out")
}

# stop_medflowd: SIGTERM, then waits for it to finish what is in flight.
stop_medflowd() {
  [ -n "${medflowd_pid:-}" ] || return 0
  kill "$medflowd_pid" 2>/dev/null || true
  wait "$medflowd_pid" 2>/dev/null || true
  medflowd_pid=
}
