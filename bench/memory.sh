#!/usr/bin/env bash
# Memory: strata-server's resident set with 10 versions of the MNIST
# autoencoder loaded (--version_policy=all), minus the raw bytes of their
# weights: what the server costs on top of the models. Measured once the ten
# versions are served and idle, and again after 200 Encode calls of 256 rows
# spread over the versions. Builds what it needs; bounded (~1 minute).
# Ends with: RESULT overhead_mb=<RSS - weight bytes, idle> weights_mb=... rss_mb=... after_traffic_overhead_mb=...
set -euo pipefail
cd "$(dirname "$0")/.."
export STRATA_MNIST_DIR="${STRATA_MNIST_DIR:-$PWD/../shared/data/mnist}"
VERSIONS=${VERSIONS:-10}
bash deploy/build.sh >/dev/null
source bench/server_lib.sh
work=$(mktemp -d)
trap 'stop_server; rm -rf "$work"' EXIT
line=$(build/bin/memory_bench --make_models="$work/models" --versions="$VERSIONS")
weights=$(sed -n 's/.*bytes=\([0-9]*\).*/\1/p' <<<"$line")
start_server "$work" --model_root="$work/models" --version_policy=all
for _ in $(seq 300); do
  n=$(build/bin/strata --server="127.0.0.1:$SERVER_PORT" models --output=csv 2>/dev/null |
      awk -F, '$1 == "mnist" {print split($2, v, " ")}')
  n=${n:-0}
  [[ "$n" -ge "$VERSIONS" ]] && break
  sleep 0.2
done
[[ "$n" -ge "$VERSIONS" ]] || { echo "only $n of $VERSIONS versions loaded" >&2; exit 1; }
sleep 1
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$SERVER_PID/status"; }
idle_kb=$(rss_kb)
# Traffic: 256 MNIST-sized rows per call, each version in turn.
build/bin/memory_bench --target="127.0.0.1:$SERVER_PORT" --versions="$VERSIONS" --calls=200
busy_kb=$(rss_kb)
awk -v idle="$idle_kb" -v busy="$busy_kb" -v w="$weights" -v n="$VERSIONS" 'BEGIN {
  mb = 1024 * 1024
  printf "%d versions: weights %.1f MB; RSS idle %.1f MB, after traffic %.1f MB\n",
         n, w / mb, idle * 1024 / mb, busy * 1024 / mb
  printf "RESULT overhead_mb=%.1f weights_mb=%.1f rss_mb=%.1f after_traffic_overhead_mb=%.1f\n",
         (idle * 1024 - w) / mb, w / mb, idle * 1024 / mb, (busy * 1024 - w) / mb
}'
