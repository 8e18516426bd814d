#!/usr/bin/env bash
# The PostgreSQL server of a ctest run (tests/CMakeLists.txt):
#   postgres_fixture.sh start STATE_DIR   starts one (tests/support/postgres.sh); its URL in
#                                         STATE_DIR/url, its directory in STATE_DIR/dir
#   postgres_fixture.sh stop STATE_DIR    stops it
#   postgres_fixture.sh run STATE_DIR CMD...
#                                         runs CMD with MEDFLOW_TEST_STORE=postgres and
#                                         MEDFLOW_TEST_PG_URL; exits 77 (skipped) when there is no
#                                         server because PostgreSQL is not installed, unless
#                                         MEDFLOW_REQUIRE_POSTGRES is set (scripts/test.sh).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/postgres.sh"
cmd=$1 state=$2
shift 2
mkdir -p "$state"
case $cmd in
  start)
    rm -f "$state/url" "$state/dir"
    if ! postgres_bin_dir >/dev/null; then
      if [ -n "${MEDFLOW_REQUIRE_POSTGRES:-}" ]; then
        echo "PostgreSQL is not installed (/usr/lib/postgresql/*/bin) and MEDFLOW_REQUIRE_POSTGRES is set" >&2
        exit 1
      fi
      echo "PostgreSQL is not installed: the *_postgres tests will be skipped"
      exit 0
    fi
    dir=$(mktemp -d "${TMPDIR:-/tmp}/medflow-ctest-pg.XXXXXX")
    start_postgres "$dir"
    echo "$dir" >"$state/dir"
    echo "$MEDFLOW_PG_OWNER" >"$state/owner"
    echo "$MEDFLOW_TEST_PG_URL" >"$state/url"
    echo "PostgreSQL started: $MEDFLOW_TEST_PG_URL ($dir)"
    ;;
  stop)
    if [ -f "$state/dir" ]; then
      MEDFLOW_PG_DIR=$(cat "$state/dir")
      MEDFLOW_PG_OWNER=$(cat "$state/owner")
      MEDFLOW_PG_BIN=$(postgres_bin_dir)
      stop_postgres
      rm -f "$state/url" "$state/dir" "$state/owner"
    fi
    ;;
  run)
    if [ ! -f "$state/url" ]; then
      if [ -n "${MEDFLOW_REQUIRE_POSTGRES:-}" ]; then
        echo "no PostgreSQL server (did postgres_server_start run?) and MEDFLOW_REQUIRE_POSTGRES is set" >&2
        exit 1
      fi
      echo "skipped: PostgreSQL is not installed"
      exit 77
    fi
    MEDFLOW_TEST_PG_URL=$(cat "$state/url") MEDFLOW_TEST_STORE=postgres exec "$@"
    ;;
  *)
    echo "usage: $0 start|stop|run STATE_DIR [CMD...]" >&2
    exit 2
    ;;
esac
