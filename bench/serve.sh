#!/usr/bin/env bash
# Serving overhead: single-record Encode on a 64-input model against an empty
# RPC on the same strata-server (loopback, free port), 7 alternating rounds of
# 3 s each. Builds what it needs; bounded (~40 s, killed after 5 minutes).
# Ends with: RESULT ratio=<encode QPS / empty QPS> encode_qps=... empty_qps=... p50_us=... p99_us=...
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/build.sh >/dev/null
source bench/server_lib.sh
work=$(mktemp -d)
trap 'stop_server; rm -rf "$work"' EXIT
build/bin/serve_bench --make_model="$work/models"
start_server "$work" --model_root="$work/models" "$@"
timeout 300 build/bin/serve_bench --target="127.0.0.1:$SERVER_PORT"
