#!/usr/bin/env bash
# Installs what is missing, then configures and builds strata (Release, -O3).
#   STRATA_NATIVE=OFF  portable x86-64-v3 build (for images); default ON (-march=native)
#   BUILD_DIR=DIR      build directory; default build/
set -euo pipefail
cd "$(dirname "$0")/.."

bash deploy/install-deps.sh
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DSTRATA_NATIVE="${STRATA_NATIVE:-ON}" >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
