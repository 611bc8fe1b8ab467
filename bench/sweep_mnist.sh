#!/usr/bin/env bash
# The bottleneck question on MNIST (issue 18): one sweep TrainJob over the
# code width of 784 -> 256 -> w, w in {4, 8, 16, 32, 64}, each trial scored
# by the 5-fold linear-probe accuracy on its codes of the labelled images;
# the same probe on the raw pixels is the baseline (bench/sweep_mnist.cc).
#   bash bench/sweep_mnist.sh [--rows=20000] [--epochs=20] [--code_widths=4,8,16,32,64]
# MNIST from $STRATA_MNIST_DIR (default ../shared/data/mnist). Bounded: killed
# after 30 minutes (about 3 with the defaults on 2 vCPUs with AVX-512).
# Ends with: RESULT best_width=... best_probe=... raw_probe=... trials=...
#            sweep_seconds=... gemm_gflops=...
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/server_lib.sh
start_mnist_bench_server
timeout 1800 build/bin/sweep_mnist_bench --target="127.0.0.1:$SERVER_PORT" "$@"
