#!/usr/bin/env bash
# Encode efficiency of the core against Eigen's large-GEMM ceiling, measured in
# the same run. Builds what it needs (Release, native arch), runs ~30 s.
# Ends with: RESULT ratio_b256=... ratio_b4096=... ceiling_gflops=... rows_per_s_b1=...
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/build.sh >/dev/null
exec build/bin/encode_core_bench
