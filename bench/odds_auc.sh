#!/usr/bin/env bash
# Anomaly detection on the labelled ODDS sets: strata's default score against
# the classical detectors (IsolationForest, PCA, kNN, LOF, MCD, one-class SVM,
# ECOD; bench/odds_baselines.py) and their classical ensemble, on the same
# stratified 70/30 splits, one per seed (see bench/odds_auc.cc). Prints ROC-AUC
# and average precision per set and method, each the mean over the seeds.
#   bash bench/odds_auc.sh [--data_dir DIR] [--seeds 0,1,2] [--config FILE.json]
#                          [--metric M] [--dump_dir DIR]
# DIR defaults to ../shared/data/odds; any directory of CSVs whose last column
# is `label` (1 = anomaly) works. strata trains with its defaults unless
# --config is given. Installs python3-sklearn for the baselines. Bounded:
# killed after 60 minutes.
# The classical detectors' figures are cached (bench/odds_baselines.py), so a
# second run costs strata's training only. Prints the per-set gap to the best
# single detector and the two halves of the panel (bench/odds_auc.cc).
# Ends with: RESULT mean_auc=... mean_ap=... best_baseline=... best_baseline_auc=...
#   ensemble_baseline_auc=... mean_auc_half_a=... mean_auc_half_b=...
#   best_baseline_auc_half_a=... ... worst_gap=... met=... sets=... seeds=...
set -euo pipefail
cd "$(dirname "$0")/.."
data_dir=../shared/data/odds
extra=()
usage="usage: bench/odds_auc.sh [--data_dir DIR] [--seeds S,S,..] [--config FILE.json] [--metric M] [--dump_dir DIR] [--ensemble K] [--baselines=false]"
while [[ $# -gt 0 ]]; do
  case $1 in
    --data_dir) data_dir=$2; shift 2 ;;
    --data_dir=*) data_dir=${1#*=}; shift ;;
    --config|--metric|--seeds|--dump_dir|--ensemble|--baselines)
      [[ $# -ge 2 ]] || { echo "$usage" >&2; exit 2; }
      extra+=("$1=$2"); shift 2 ;;
    --config=*|--metric=*|--seeds=*|--dump_dir=*|--ensemble=*|--baselines=*) extra+=("$1"); shift ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done
bash deploy/install-deps.sh python3-sklearn
bash deploy/build.sh >/dev/null
source bench/server_lib.sh
work=$(mktemp -d)
trap 'stop_server; rm -rf "$work"' EXIT
start_server "$work" --model_root="$work/models"
timeout 3600 build/bin/odds_auc_bench --target="127.0.0.1:$SERVER_PORT" --data_dir="$data_dir" \
  --work="$work" "${extra[@]}"
