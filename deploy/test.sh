#!/usr/bin/env bash
# Builds strata and runs the whole test suite (unit, integration, e2e) with
# ctest, which ends with its summary. Extra arguments go to ctest, e.g. -L unit.
set -euo pipefail
cd "$(dirname "$0")/.."

bash deploy/build.sh
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j"$(nproc)" "$@"
