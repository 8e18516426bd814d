#!/usr/bin/env bash
# The Debian package on a fresh Debian 12, as an operator installs it. Run as root on a clean
# machine, from the project root; on this project's committed HEAD:
#   ../shared/tools/fresh-machine.sh . ../shared 'bash tests/package/install_test.sh'
# Builds the package (scripts/setup.sh, scripts/package.sh), installs it with apt-get, then runs
# medflowd as the installed unit's ExecStart does (user medflow, its WorkingDirectory), with a
# NOTIFY_SOCKET listener standing in for systemd (there is no systemd in the chroot): READY=1,
# /healthz 200, SIGTERM, STOPPING=1, exit 0. The port is a free one given as
# MEDFLOW_HTTP_PORT (the chroot shares the host's network), as a unit drop-in's Environment= would.
set -euo pipefail
cd "$(dirname "$0")/../.."
t0=$SECONDS
say() { echo "install_test [$((SECONDS - t0)) s]: $*"; }
fail() { echo "install_test FAIL: $*" >&2; exit 1; }

say "setup (build dependencies; python3 and curl for this test)"
bash scripts/setup.sh --build-only
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 curl >/dev/null
say "building the package"
deb=$(bash scripts/package.sh | tail -n1)
say "built $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB)"
dpkg-deb --field "$deb" Package Version Architecture Depends
dpkg-deb --contents "$deb" | awk '{print $6}'

say "apt-get install ./$(basename "$deb")"
cp "$deb" /tmp/
(cd /tmp && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "./$(basename "$deb")" >/dev/null)
id medflow || fail "no medflow user"
[ "$(stat -c %U "/var/lib/medflow")" = medflow ] || fail "/var/lib/medflow not owned by medflow"
unit=/usr/lib/systemd/system/medflowd.service
[ -f "$unit" ] || fail "no unit at $unit"
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
workdir=$(sed -n 's/^WorkingDirectory=//p' "$unit")
user=$(sed -n 's/^User=//p' "$unit")
say "unit: User=$user WorkingDirectory=$workdir ExecStart=$exec_start"
medflowd --version

tmp=$(mktemp -d)
chmod 755 "$tmp"
sock="@medflow-install-test-$$"
python3 tests/e2e/notify_listener.py "$sock" >"$tmp/notify.out" &
listener=$!
trap 'kill -9 $listener ${mf:-} 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q listening "$tmp/notify.out" && break; sleep 0.1; done
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

say "starting medflowd as $user: $exec_start (NOTIFY_SOCKET=$sock, MEDFLOW_HTTP_PORT=$port)"
# shellcheck disable=SC2086  # ExecStart is a command line
# setpriv execs (as systemd's User= does, without a login session), so $mf is medflowd itself.
(cd "$workdir" && exec setpriv --reuid="$user" --regid="$(id -gn "$user")" --init-groups \
  env NOTIFY_SOCKET="$sock" MEDFLOW_HTTP_PORT="$port" $exec_start \
  >"$tmp/medflowd.out" 2>"$tmp/medflowd.err") &
mf=$!
started=$SECONDS
until grep -q '^READY=1$' "$tmp/notify.out"; do
  kill -0 $mf 2>/dev/null || { cat "$tmp/medflowd.err"; fail "medflowd exited at start-up"; }
  [ $((SECONDS - started)) -lt 60 ] || { cat "$tmp/medflowd.err"; fail "no READY=1 within 60 s"; }
  sleep 0.1
done
say "received READY=1"
grep -qx "MAINPID=$mf" "$tmp/notify.out" || fail "READY=1 without MAINPID=$mf"
[ "$(stat -c %U "/proc/$mf")" = "$user" ] || fail "medflowd does not run as $user"
code=$(curl -s -o "$tmp/healthz" -w '%{http_code}' "http://127.0.0.1:$port/healthz")
say "GET /healthz: $code $(cat "$tmp/healthz")"
[ "$code" = 200 ] || fail "/healthz answered $code"
[ -f /var/lib/medflow/medflow.db ] || fail "no database in /var/lib/medflow"
say "store: $(stat -c '%U %n' /var/lib/medflow/medflow.db)"

term_t0=$(date +%s%N)
kill -TERM $mf
rc=0
wait $mf || rc=$?
say "medflowd exited with $rc $((($(date +%s%N) - term_t0) / 1000000)) ms after SIGTERM"
[ $rc -eq 0 ] || { cat "$tmp/medflowd.err"; fail "exit status $rc"; }
sleep 0.2
echo "--- notifications received, in order:"
cat "$tmp/notify.out"
order=$(grep -E '^(READY|STOPPING)=1$' "$tmp/notify.out" | tr '\n' ' ')
[ "$order" = "READY=1 STOPPING=1 " ] || fail "expected READY=1 then STOPPING=1, got: $order"
say "PASS: installed, started as the unit does, /healthz 200, READY=1 then STOPPING=1"
