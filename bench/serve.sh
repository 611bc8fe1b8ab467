#!/usr/bin/env bash
# Serving overhead: single-record Encode and AnomalyScore against an empty RPC
# on the same strata-server (loopback, free port), and AnomalyScore rows/s at
# batch 256; 7 rounds of 3 s per kind. Builds what it needs; bounded (~2 min,
# killed after 5 minutes). Extra arguments go to strata-server.
#
#   bash bench/serve.sh [server flags...]
#   bash bench/serve.sh --baseline=COMMIT [server flags...]
#       also builds COMMIT's strata-server (cached in build/baseline-<sha>) and
#       runs both servers in the same run, in ABBA order (3 runs each of 3
#       rounds), for a before/after comparison on the same machine state.
#
# Ends with: RESULT ratio=... score_ratio=... encode_qps=... (serve_bench's
# line); with --baseline: RESULT ratio=<median> baseline_ratio=<median> ...
set -euo pipefail
cd "$(dirname "$0")/.."
baseline=""
server_flags=()
for arg in "$@"; do
  case "$arg" in
    --baseline=*) baseline=${arg#--baseline=} ;;
    *) server_flags+=("$arg") ;;
  esac
done
bash deploy/build.sh >/dev/null
source bench/server_lib.sh
work=$(mktemp -d)
trap 'stop_server; rm -rf "$work"' EXIT
build/bin/serve_bench --make_model="$work/models"

if [[ -z "$baseline" ]]; then
  start_server "$work" --model_root="$work/models" "${server_flags[@]}"
  timeout 300 build/bin/serve_bench --target="127.0.0.1:$SERVER_PORT"
  exit 0
fi

source bench/baseline_lib.sh
build_baseline "$baseline" strata-server
base_build=$BASELINE_BUILD
sha=$BASELINE_SHA

# One server at a time, each fresh, in the order A B B A A B.
run() {  # run BINARY LABEL
  STRATA_SERVER_BIN=$1 start_server "$work" --model_root="$work/models" "${server_flags[@]}"
  timeout 300 build/bin/serve_bench --target="127.0.0.1:$SERVER_PORT" --rounds=3 |
    tee -a "$work/$2.log"
  stop_server
}
for who in current baseline baseline current current baseline; do
  if [[ $who == current ]]; then run build/bin/strata-server current
  else run "$base_build/bin/strata-server" baseline; fi
done
/usr/bin/python3 - "$work" "${sha:0:12}" <<'PY'
import re, statistics, sys
work, sha = sys.argv[1], sys.argv[2]
def results(who):
    rows = []
    for line in open(f"{work}/{who}.log"):
        if line.startswith("RESULT"):
            rows.append({k: float(v) for k, v in re.findall(r"(\w+)=([0-9.]+)", line)})
    return rows
cur, base = results("current"), results("baseline")
med = lambda rows, k: statistics.median(r[k] for r in rows)
for who, rows in (("current", cur), ("baseline " + sha, base)):
    print(f"{who:>22}: ratios " + " ".join(f"{r['ratio']:.3f}" for r in rows) +
          f"  median {med(rows, 'ratio'):.3f}; encode {med(rows, 'encode_qps'):.0f} QPS, "
          f"empty {med(rows, 'empty_qps'):.0f} QPS")
print(f"RESULT ratio={med(cur, 'ratio'):.3f} baseline_ratio={med(base, 'ratio'):.3f} "
      f"score_ratio={med(cur, 'score_ratio'):.3f} "
      f"encode_qps={med(cur, 'encode_qps'):.0f} baseline_encode_qps={med(base, 'encode_qps'):.0f} "
      f"empty_qps={med(cur, 'empty_qps'):.0f} baseline_empty_qps={med(base, 'empty_qps'):.0f} "
      f"gemm_gflops={med(cur, 'gemm_gflops'):.1f} baseline={sha}")
PY
