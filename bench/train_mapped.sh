#!/usr/bin/env bash
# Training rows/s from a memory-mapped row file against the same rows in
# memory, the file in the page cache (MNIST as 12 CSV shards, two networks).
# Builds what it needs (Release, native arch); runs ~2 min.
# Ends with: RESULT mapped_rows_per_s=... memory_rows_per_s=... ratio=... small_net_ratio=...
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/build.sh >/dev/null
build/bin/train_mapped_bench
