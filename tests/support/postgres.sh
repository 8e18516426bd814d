# A throw-away PostgreSQL server for tests: source this file, then
#   start_postgres <dir>   initdb + pg_ctl start in <dir> (created; removed by stop_postgres),
#                          on a free TCP port of 127.0.0.1, its socket in <dir>; exports
#                          MEDFLOW_TEST_PG_URL (a superuser's URL, database postgres)
#   stop_postgres          stops it and removes its directory
# Debian's binaries (/usr/lib/postgresql/<version>/bin), run as an unprivileged user when we
# are root (initdb refuses root). fsync stays on; only the memory settings are small.
# postgres_bin_dir prints the directory of initdb/pg_ctl, or fails when PostgreSQL is absent.

postgres_bin_dir() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
      echo "$d"
      return 0
    fi
  done
  return 1
}

# Runs a command as the server's owner.
_pg_as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "$MEDFLOW_PG_OWNER" -- "$@"
  else
    "$@"
  fi
}

_pg_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start_postgres() {
  local dir=$1 bin
  bin=$(postgres_bin_dir) || { echo "postgres.sh: PostgreSQL is not installed (apt-get install postgresql)" >&2; return 1; }
  MEDFLOW_PG_DIR=$dir
  MEDFLOW_PG_BIN=$bin
  MEDFLOW_PG_OWNER=${MEDFLOW_PG_OWNER:-nobody}
  mkdir -p "$dir"
  if [ "$(id -u)" -eq 0 ]; then
    chown "$MEDFLOW_PG_OWNER" "$dir"
    chmod 700 "$dir"
  fi
  _pg_as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --no-instructions \
    -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 || {
    echo "postgres.sh: initdb failed:" >&2
    cat "$dir/initdb.log" >&2
    return 1
  }
  local port tries=0
  while :; do
    port=$(_pg_free_port)
    if _pg_as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir \
          -c fsync=on -c shared_buffers=16MB -c max_connections=200 \
          -c max_wal_size=256MB" start >"$dir/pg_ctl.log" 2>&1; then
      break
    fi
    tries=$((tries + 1))
    if [ $tries -ge 3 ]; then  # the port was taken meanwhile, at most twice
      echo "postgres.sh: pg_ctl start failed:" >&2
      cat "$dir/pg_ctl.log" "$dir/server.log" >&2
      return 1
    fi
  done
  MEDFLOW_PG_PORT=$port
  export MEDFLOW_TEST_PG_URL="postgresql://postgres@127.0.0.1:$port/postgres"
}

stop_postgres() {
  [ -n "${MEDFLOW_PG_DIR:-}" ] || return 0
  if [ -f "$MEDFLOW_PG_DIR/data/postmaster.pid" ]; then
    _pg_as_owner "$MEDFLOW_PG_BIN/pg_ctl" -D "$MEDFLOW_PG_DIR/data" -m fast -w -t 60 stop \
      >/dev/null 2>&1 || true
  fi
  rm -rf "$MEDFLOW_PG_DIR"
  MEDFLOW_PG_DIR=
}
