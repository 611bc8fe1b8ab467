#!/usr/bin/env bash
# Hinton & Salakhutdinov (2006) Fig. 2B on strata: the 784-1000-500-250-30
# autoencoder trained on MNIST through a TrainJob with the preset
# data/configs/mnist_hinton.json, squared error per test image through
# Reconstruct, against 30-component PCA in the same run (bench/mnist_hinton.cc).
#   bash bench/mnist_hinton.sh [--config FILE.json]
# MNIST from $STRATA_MNIST_DIR (default ../shared/data/mnist). Bounded: killed
# after 40 minutes. Target: err_per_image <= 3.00 within 20 minutes of training.
# Ends with: RESULT err_per_image=... pca_err_per_image=... train_minutes=... epochs=...
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/server_lib.sh
start_mnist_bench_server
timeout 2400 build/bin/mnist_hinton_bench --target="127.0.0.1:$SERVER_PORT" "$@"
