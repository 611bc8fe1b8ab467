#!/usr/bin/env bash
# Streaming and dynamic batching: StreamAnomalyScore records/s against
# single-record unary AnomalyScore QPS, on two strata-servers (loopback, free
# ports) with the same 64-input model: --dynamic_batch_rows=0 (off) and
# --dynamic_batch_rows=$BATCH_ROWS --dynamic_batch_delay_us=$BATCH_DELAY_US (on).
# Builds what it needs; bounded (~70 s, killed after 5 minutes).
# Ends with: RESULT ratio=<streamed records/s / unary QPS> stream_rps=... unary_qps=... batching_wins=...
set -euo pipefail
cd "$(dirname "$0")/.."
BATCH_ROWS=${BATCH_ROWS:-256}
BATCH_DELAY_US=${BATCH_DELAY_US:-200}
bash deploy/build.sh >/dev/null
source bench/server_lib.sh
work=$(mktemp -d)
mkdir -p "$work/off" "$work/on"
trap 'stop_server; SERVER_PID=${OFF_PID:-}; stop_server; rm -rf "$work"' EXIT
build/bin/stream_bench --make_model="$work/models"
start_server "$work/off" --model_root="$work/models" --dynamic_batch_rows=0
OFF_PID=$SERVER_PID OFF_PORT=$SERVER_PORT
start_server "$work/on" --model_root="$work/models" --dynamic_batch_rows="$BATCH_ROWS" \
  --dynamic_batch_delay_us="$BATCH_DELAY_US"
echo "batching on: --dynamic_batch_rows=$BATCH_ROWS --dynamic_batch_delay_us=$BATCH_DELAY_US"
timeout 300 build/bin/stream_bench --target_off="127.0.0.1:$OFF_PORT" \
  --target_on="127.0.0.1:$SERVER_PORT" "$@"
