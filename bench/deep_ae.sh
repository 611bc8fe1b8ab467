#!/usr/bin/env bash
# Deep architectures on MNIST (issue 17): the deep-autoencoder tutorial's
# 784-512-256-128-32 and 784-512-384-256-128-64-16 networks plain, +BN,
# +residual and +both, and a depth sweep (4, 8, 16, 32 hidden layers of width
# 256) with and without residual connections and BN, all trained through
# TrainJobs with the same epochs, optimizer and seed (bench/deep_ae.cc); then
# the folded BN model's Encode throughput against the same network without BN.
#   bash bench/deep_ae.sh [--train_rows=N] [--epochs=N] [--depths=4,8] [--tutorial=false]
# MNIST from $STRATA_MNIST_DIR (default ../shared/data/mnist). Bounded: killed
# after 75 minutes (about 35 with the defaults on 2 vCPUs with AVX-512).
# Ends with: RESULT err_<network>_<variant>=... ratio_deep_plain_vs_bn=...
#            encode_ratio_b1=... encode_ratio_b256=... mean_image_err=... gemm_gflops=...
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/server_lib.sh
start_mnist_bench_server
timeout 4500 build/bin/deep_ae_bench --target="127.0.0.1:$SERVER_PORT" --model_root="$BENCH_WORK/models" "$@"
