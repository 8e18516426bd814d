#!/usr/bin/env bash
# Builds the Debian package: build-package/medflowd_<version>_<arch>.deb (medflowd, medflow-token,
# /etc/medflow, the systemd unit, the maintainer scripts creating the medflow user). Release,
# installed under /usr, without tests and benchmarks; library dependencies from dpkg-shlibdeps
# (needs dpkg-dev and file, which scripts/setup.sh installs). Prints the package's path.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
dir=${PACKAGE_BUILD_DIR:-build-package}
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
  -DBUILD_TESTING=OFF -DMEDFLOW_BENCH=OFF >/dev/null
cmake --build "$dir" -j "$jobs" --target medflowd medflow-token
(cd "$dir" && cpack -G DEB >/dev/null)
ls "$PWD/$dir"/medflowd_*.deb
