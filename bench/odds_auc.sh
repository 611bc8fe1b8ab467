#!/usr/bin/env bash
# Anomaly-detection ROC-AUC on the labelled ODDS sets against PCA and
# IsolationForest on the same stratified 70/30 split (see bench/odds_auc.cc).
#   bash bench/odds_auc.sh [--data_dir DIR] [--config FILE.json] [--metric M] [--seed S]
# DIR defaults to ../shared/data/odds. strata trains with its defaults unless
# --config is given. Installs python3-sklearn for the IsolationForest
# baseline. Bounded: killed after 30 minutes.
# Ends with: RESULT mean_auc=... baseline_auc=<mean of the better baseline per set> ...
set -euo pipefail
cd "$(dirname "$0")/.."
data_dir=../shared/data/odds
extra=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --data_dir) data_dir=$2; shift 2 ;;
    --data_dir=*) data_dir=${1#*=}; shift ;;
    --config) extra+=("--config=$2"); shift 2 ;;
    --config=*) extra+=("$1"); shift ;;
    --metric) extra+=("--metric=$2"); shift 2 ;;
    --metric=*) extra+=("$1"); shift ;;
    --seed) extra+=("--seed=$2"); shift 2 ;;
    --seed=*) extra+=("$1"); shift ;;
    *) echo "usage: bench/odds_auc.sh [--data_dir DIR] [--config FILE.json] [--metric M] [--seed S]" >&2; exit 2 ;;
  esac
done
bash deploy/install-deps.sh python3-sklearn
bash deploy/build.sh >/dev/null
source bench/server_lib.sh
work=$(mktemp -d)
trap 'stop_server; rm -rf "$work"' EXIT
start_server "$work" --model_root="$work/models"
timeout 1800 build/bin/odds_auc_bench --target="127.0.0.1:$SERVER_PORT" --data_dir="$data_dir" \
  --work="$work" "${extra[@]}"
