#!/usr/bin/env bash
# Installs the Debian 12 packages medflowd needs to build, run and test, if any is missing,
# and the test-only npm server (s3rver) into tests/node_modules.
# Idempotent and quiet when everything is there.
set -euo pipefail

packages=(
  g++ cmake make pkg-config              # toolchain
  libcaf-dev                             # CAF 0.17.6, the actor system
  librdkafka-dev                         # Kafka client (+ rdkafka_mock.h for tests)
  libsqlite3-dev                         # the store and the embedded bus
  libpq-dev                              # the store on PostgreSQL (store.backend=postgres)
  postgresql                             # tests: a real PostgreSQL server (initdb, pg_ctl)
  nlohmann-json3-dev                     # JSON
  libboost-dev                           # Boost.Beast: HTTP/1.1 framing (header-only)
  libcpp-httplib-dev                     # HTTP client of tests, benchmarks and tools
  libssl-dev                             # JWT signatures, random ids, sealing at rest
  libcurl4-openssl-dev                   # outbound HTTP (aggregation sources), S3, SMTP
  libexpat1-dev                          # S3's XML answers
  doctest-dev                            # unit tests
  clang libclang-rt-14-dev               # fuzz targets (libFuzzer, sanitizers)
  kcat curl jq sqlite3                   # end-to-end tests: Kafka client, HTTP, JSON, the database
  python3-aiosmtpd openssl               # tests: a real SMTP server on loopback, its TLS cert
  python3-botocore                       # tests: AWS's own SigV4 signer checks our signatures
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm run s3rver (a real S3 API server) for the tests only. Checked as commands: a
# machine may have another build of Node.js that bundles npm, which Debian's npm conflicts with.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "setup: done"
fi

# s3rver at the version tests/package-lock.json pins, into tests/node_modules (git-ignored).
tests_dir="$(cd "$(dirname "$0")/.." && pwd)/tests"
wanted=$(sed -n 's/.*"s3rver": "\(.*\)".*/\1/p' "$tests_dir/package.json")
installed=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$tests_dir/node_modules/s3rver/package.json" 2>/dev/null || true)
if [ "$installed" != "$wanted" ]; then
  echo "setup: installing s3rver $wanted into tests/node_modules (tests only)"
  npm ci --prefix "$tests_dir" --no-audit --no-fund --loglevel=error >/dev/null
fi
