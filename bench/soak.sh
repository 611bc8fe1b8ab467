#!/usr/bin/env bash
# Soak: Encode, AnomalyScore, streams, TrainJobs and hot swaps at once against
# one strata-server (loopback, free port) for SOAK_SECONDS (default 300),
# sampling the server's RSS and open fds. Builds what it needs.
# Ends with: RESULT errors=... rss_growth_pct=... fd_growth=...
# (expected: 0 errors, RSS growth under 5% after warm-up, no fd growth)
set -euo pipefail
cd "$(dirname "$0")/.."
SOAK_SECONDS=${SOAK_SECONDS:-300}
bash deploy/build.sh >/dev/null
source bench/server_lib.sh
work=$(mktemp -d)
trap 'stop_server; rm -rf "$work"' EXIT
build/bin/serve_bench --make_model="$work/models"
start_server "$work" --model_root="$work/models" --version_policy=latest:2 --poll_interval=1s
timeout $((SOAK_SECONDS + 120)) build/bin/soak_bench --target="127.0.0.1:$SERVER_PORT" \
  --server_pid="$SERVER_PID" --seconds="$SOAK_SECONDS"
