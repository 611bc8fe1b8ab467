# Shell helpers for benchmarks that run strata-server (sourced, not run).
#   start_server WORKDIR [server flags...]  sets SERVER_PORT and SERVER_PID
#                                           (runs $STRATA_SERVER_BIN, default build/bin/strata-server)
#   stop_server                             SIGTERM, then wait
#   start_mnist_bench_server                for the MNIST benches: exports STRATA_MNIST_DIR
#                                           (default ../shared/data/mnist), builds, starts the
#                                           server on a scratch store $BENCH_WORK/models
#                                           (256 MiB messages), stops it and removes the store
#                                           on exit; run from the repository root
start_server() {
  local work=$1
  shift
  "${STRATA_SERVER_BIN:-build/bin/strata-server}" --host=127.0.0.1 --port=0 --metrics_port=-1 "$@" \
    >"$work/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do
    SERVER_PORT=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$work/server.log")
    [[ -n "$SERVER_PORT" ]] && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "strata-server did not start:" >&2
  cat "$work/server.log" >&2
  return 1
}

stop_server() {
  if [[ -n "${SERVER_PID:-}" ]]; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}

start_mnist_bench_server() {
  export STRATA_MNIST_DIR="${STRATA_MNIST_DIR:-$PWD/../shared/data/mnist}"
  bash deploy/build.sh >/dev/null
  BENCH_WORK=$(mktemp -d)
  trap 'stop_server; rm -rf "$BENCH_WORK"' EXIT
  start_server "$BENCH_WORK" --model_root="$BENCH_WORK/models" --max_message_bytes=268435456
}
