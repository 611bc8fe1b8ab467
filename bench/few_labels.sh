#!/usr/bin/env bash
# Few labels on MNIST (issues 18 and 36): test accuracy with 100 and 600
# labels (10 and 60 per class) and with all 60,000, of logistic regression
# on the pixels and on as many principal components as the code has units,
# the network trained on the labelled images alone, the denoising
# autoencoder pretrained on all 60,000 images then fine-tuned with its head,
# and the same with the encoder frozen; every network through TrainJobs with
# class labels and answered through Predict (bench/few_labels.cc).
#   bash bench/few_labels.sh [--label_sets=10,60,all] [--arms=...] [--epochs=20]
#       [--widths=256,64] [--overrides=JSON] [--pretrained_overrides=JSON]
# MNIST from $STRATA_MNIST_DIR (default ../shared/data/mnist). Bounded: killed
# after 40 minutes.
# Ends with: RESULT acc_pretrained_100=... acc_scratch_100=... acc_pretrained_600=...
#            acc_frozen_600=... acc_pca_head_600=... acc_pretrained_all=... gemm_gflops=...
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/server_lib.sh
start_mnist_bench_server
timeout 2400 build/bin/few_labels_bench --target="127.0.0.1:$SERVER_PORT" "$@"
