#!/usr/bin/env bash
# Records per second through NATS JetStream and strata-stream against
# strata-server's StreamAnomalyScore, same model, same run: starts
# nats-server -js, strata-server and strata-stream on loopback (free ports),
# stops them at the end. Builds what it needs; bounded (killed after 10 minutes).
#   bash bench/nats_stream.sh [nats_stream_bench flags...]
# Ends with: RESULT nats_records_per_s=... grpc_stream_records_per_s=... ratio=...
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/build.sh >/dev/null
source bench/server_lib.sh
work=$(mktemp -d)
NATS_PID="" STREAM_PID=""
cleanup() {
  [[ -n "$STREAM_PID" ]] && kill -TERM "$STREAM_PID" 2>/dev/null && wait "$STREAM_PID" 2>/dev/null
  stop_server
  [[ -n "$NATS_PID" ]] && kill -TERM "$NATS_PID" 2>/dev/null && wait "$NATS_PID" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
build/bin/nats_stream_bench --make_model="$work/models"
nats_port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
nats-server -js -a 127.0.0.1 -p "$nats_port" -sd "$work/js" >"$work/nats.log" 2>&1 &
NATS_PID=$!
for _ in $(seq 100); do
  build/bin/nats_stream_bench --setup_nats="nats://127.0.0.1:$nats_port" 2>/dev/null && break
  sleep 0.1
done
start_server "$work" --model_root="$work/models"
build/bin/strata-stream --nats_url="nats://127.0.0.1:$nats_port" --stream=RECORDS \
  --model=bench --model_root="$work/models" --metrics_port=-1 >"$work/stream.log" 2>&1 &
STREAM_PID=$!
timeout 600 build/bin/nats_stream_bench --target="127.0.0.1:$SERVER_PORT" \
  --nats_url="nats://127.0.0.1:$nats_port" "$@"
