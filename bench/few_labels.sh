#!/usr/bin/env bash
# Few labels on MNIST (issue 18): test accuracy with 600 labels (60 per
# class) and with all 60,000, of logistic regression on the pixels, the
# network trained on the labelled images alone, the autoencoder pretrained on
# all 60,000 images then fine-tuned with its classifier head, and the same
# with the encoder frozen; every network through TrainJobs with class labels
# and answered through Predict (bench/few_labels.cc).
#   bash bench/few_labels.sh [--per_class=60] [--epochs=20] [--widths=256,64]
# MNIST from $STRATA_MNIST_DIR (default ../shared/data/mnist). Bounded: killed
# after 40 minutes (about 6 with the defaults on 2 vCPUs with AVX-512).
# Ends with: RESULT acc_pretrained_600=... acc_scratch_600=... acc_raw_600=...
#            acc_frozen_600=... acc_pretrained_all=... ... gemm_gflops=...
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/server_lib.sh
start_mnist_bench_server
timeout 2400 build/bin/few_labels_bench --target="127.0.0.1:$SERVER_PORT" "$@"
