#!/usr/bin/env bash
# The main job: builds strata, starts strata-server on 127.0.0.1 with the model
# store in models/ (ignored by git), trains the demo model from data/thyroid.csv
# through a TrainJob if the store has none, prints the commands to call it, and
# keeps serving until Ctrl-C.
#   STRATA_PORT=50051    gRPC port
#   STRATA_METRICS_PORT=9464  Prometheus /metrics port
#   STRATA_MODELS=models model store
set -euo pipefail
cd "$(dirname "$0")/.."

bash deploy/build.sh >/dev/null
PORT=${STRATA_PORT:-50051}
MODELS=${STRATA_MODELS:-models}
SERVER="127.0.0.1:$PORT"
STRATA="build/bin/strata --server=$SERVER"

METRICS_PORT=${STRATA_METRICS_PORT:-9464}
# The row file that training from data/thyroid.csv makes goes under the store
# (a '.' name is never a model), not into data/ in the working tree.
build/bin/strata-server --host=127.0.0.1 --port="$PORT" --metrics_port="$METRICS_PORT" \
  --model_root="$MODELS" --data_root=data --row_cache_dir="$MODELS/.row-cache" &
SERVER_PID=$!
trap 'kill -TERM $SERVER_PID 2>/dev/null; wait $SERVER_PID 2>/dev/null; exit 0' INT TERM
# Wait until it answers (or has died, e.g. because the port is taken).
for _ in $(seq 100); do
  if ! kill -0 $SERVER_PID 2>/dev/null; then
    echo "demo: strata-server did not start (is port $PORT taken? set STRATA_PORT)" >&2
    exit 1
  fi
  $STRATA models >/dev/null 2>&1 && break
  sleep 0.1
done

if ! $STRATA models --output csv | grep -q '^thyroid,'; then
  echo "== training the demo model through a TrainJob (data/thyroid.csv, label column left out)"
  $STRATA train --model thyroid --server_csv thyroid.csv --drop_columns label \
    --config data/configs/thyroid.json --labels stable --wait
fi

echo
echo "== strata-server is serving on $SERVER:"
$STRATA models
cat <<EOT

Try, from another terminal (CSV on stdin, CSV on stdout):
  $STRATA encode --model thyroid --drop_columns label < data/thyroid.csv | head
  $STRATA score --model thyroid --label stable --drop_columns label < data/thyroid.csv | head

  # A typical row (line 3603 of data/thyroid.csv, near every feature's median), then the
  # same row with f0 at 10, ten times the largest f0 in training:
  printf 'f0,f1,f2,f3,f4,f5\n0.5806,0.0018,0.1907,0.2453,0.3756,0.1721\n10,0.0018,0.1907,0.2453,0.3756,0.1721\n' | $STRATA score --model thyroid
  # percentile: the share of training rows that score at most as much as the row.
  # is_anomaly: 1 when the score is above the threshold, the training scores' 99th
  # percentile, so a flagged row's percentile is above 99 (the second row's); the typical
  # row's is well below. Most rows labelled 1 in thyroid.csv score high percentiles without
  # crossing the threshold; strata eval measures how well the score ranks them:
  $STRATA eval --model thyroid --data data/thyroid.csv --label_column label

  $STRATA reconstruct --model thyroid --drop_columns label < data/thyroid.csv | head -3
  $STRATA train --model thyroid --data data/thyroid.csv --drop_columns label --wait   # version 2, served at once
  $STRATA jobs
  $STRATA label --model thyroid --label canary --version 1
  $STRATA drift --model thyroid          # how live records drift from the training data
  curl -s http://127.0.0.1:$METRICS_PORT/metrics | grep strata_drift_score
Stop the server with Ctrl-C.
EOT
wait $SERVER_PID
