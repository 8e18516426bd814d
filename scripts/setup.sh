#!/usr/bin/env bash
# Installs the Debian 12 packages medflowd needs to build, run and test, if any is missing,
# and the test-only npm packages (s3rver, Spectral, Ajv) into tests/node_modules.
# Idempotent and quiet when everything is there; otherwise it says what it installs and shows
# apt's and npm's own progress (a first run downloads a few hundred MB: minutes, not silence).
# --build-only: only what building medflowd and its package needs (no test tools, no Node.js).
set -euo pipefail
build_only=false
[ "${1:-}" != --build-only ] || build_only=true

packages=(
  g++ cmake make pkg-config              # toolchain
  dpkg-dev file                          # scripts/package.sh: CPack DEB, dpkg-shlibdeps
  libcaf-dev                             # CAF 0.17.6, the actor system
  librdkafka-dev                         # Kafka client (+ rdkafka_mock.h for tests)
  libsqlite3-dev                         # the store and the embedded bus
  libpq-dev                              # the store on PostgreSQL (store.backend=postgres)
  nlohmann-json3-dev                     # JSON
  libsimdjson-dev                        # JSON read fast where nlohmann's result is not needed
  libboost-dev                           # Boost.Beast: HTTP/1.1 framing (header-only)
  libcpp-httplib-dev                     # HTTP client of tests, benchmarks and tools
  libssl-dev                             # JWT signatures, random ids, sealing at rest
  libcurl4-openssl-dev                   # outbound HTTP (aggregation sources), S3, SMTP
  libexpat1-dev                          # S3's XML answers
  libjemalloc-dev                        # the allocator of medflowd (CMake MEDFLOW_JEMALLOC)
  doctest-dev                            # unit tests
)
test_packages=(
  clang libclang-rt-14-dev               # fuzz targets (libFuzzer, sanitizers)
  postgresql                             # tests: a real PostgreSQL server (initdb, pg_ctl)
  kcat curl jq sqlite3                   # end-to-end tests: Kafka client, HTTP, JSON, the database
  python3-aiosmtpd openssl               # tests: a real SMTP server on loopback, its TLS cert
  python3-botocore                       # tests: AWS's own SigV4 signer checks our signatures
  prometheus python3-prometheus-client   # tests: promtool checks deploy/prometheus/alerts.yml,
                                         # the client's parser reads /metrics
)

$build_only || packages+=("${test_packages[@]}")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm run s3rver (a real S3 API server) for the tests only. Checked as commands: a
# machine may have another build of Node.js that bundles npm, which Debian's npm conflicts with.
if ! $build_only && { ! command -v node >/dev/null || ! command -v npm >/dev/null; }; then
  missing+=(nodejs npm)
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: ${#missing[@]} Debian packages missing, installing them (and what they need) with apt:"
  printf '  %s\n' "${missing[@]}"
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  # -q: apt's line per download and per package set up, without the redrawn progress bar.
  echo "setup: apt-get update"
  "${sudo[@]}" apt-get update -q
  echo "setup: apt-get install"
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
  echo "setup: Debian packages done"
fi

$build_only && exit 0
# The test-only npm packages at the versions tests/package-lock.json pins (s3rver, a real S3
# API server; Spectral, the OpenAPI linter; Ajv, a JSON Schema validator), into
# tests/node_modules (git-ignored), when any is missing or at another version.
tests_dir="$(cd "$(dirname "$0")/.." && pwd)/tests"
if ! node -e '
  const dir = process.argv[1];
  for (const [name, want] of Object.entries(require(dir + "/package.json").dependencies)) {
    let got;
    try { got = require(dir + "/node_modules/" + name + "/package.json").version; } catch (e) {}
    if (got !== want) process.exit(1);
  }' "$tests_dir"; then
  echo "setup: installing the test-only npm packages of tests/package.json into tests/node_modules"
  npm ci --prefix "$tests_dir" --no-audit --no-fund --loglevel=error
fi
