#!/usr/bin/env bash
# Installs the Debian 12 packages medflowd needs to build, run and test, if any is missing.
# Idempotent and quiet when everything is there.
set -euo pipefail

packages=(
  g++ cmake make pkg-config              # toolchain
  libcaf-dev                             # CAF 0.17.6, the actor system
  librdkafka-dev                         # Kafka client (+ rdkafka_mock.h for tests)
  libsqlite3-dev                         # the store and the embedded bus
  nlohmann-json3-dev                     # JSON
  libboost-dev                           # Boost.Beast: HTTP/1.1 framing (header-only)
  libcpp-httplib-dev                     # HTTP client of tests, benchmarks and tools
  libssl-dev                             # JWT signatures, random ids
  libcurl4-openssl-dev                   # outbound HTTP (aggregation sources)
  doctest-dev                            # unit tests
  clang libclang-rt-14-dev               # fuzz targets (libFuzzer, sanitizers)
  kcat curl jq                           # end-to-end tests: Kafka client, HTTP, JSON
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

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
