#!/usr/bin/env bash
# Encode efficiency of the core against Eigen's large-GEMM ceiling, measured in
# the same run. Builds what it needs (Release, native arch), runs ~30 s.
# Ends with: RESULT ratio_b256=... ratio_b4096=... ceiling_gflops=... rows_per_s_b1=...
#
#   bash bench/encode_core.sh
#   bash bench/encode_core.sh --baseline=COMMIT
#       also builds COMMIT's encode_core_bench (cached in build/baseline-<sha>)
#       and runs both in ABBAAB order; prints each batch's median rows/s for
#       both and their ratio, and ends with
#       RESULT b1=<current/baseline rows/s> b16=... b256=... b4096=... baseline=<sha>
set -euo pipefail
cd "$(dirname "$0")/.."
baseline=""
for arg in "$@"; do
  case "$arg" in
    --baseline=*) baseline=${arg#--baseline=} ;;
    *) echo "usage: bash bench/encode_core.sh [--baseline=COMMIT]" >&2; exit 2 ;;
  esac
done
bash deploy/build.sh >/dev/null
if [[ -z "$baseline" ]]; then exec build/bin/encode_core_bench; fi

source bench/baseline_lib.sh
build_baseline "$baseline" encode_core_bench
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for who in current baseline baseline current current baseline; do
  if [[ $who == current ]]; then bin=build/bin/encode_core_bench
  else bin=$BASELINE_BUILD/bin/encode_core_bench; fi
  echo "--- $who" >&2
  timeout 300 "$bin" | tee -a "$work/$who.log" >&2
done
/usr/bin/python3 - "$work" "$BASELINE_SHA" <<'PY'
import statistics, sys
work, sha = sys.argv[1], sys.argv[2]
def rows_per_s(who):
    out = {}
    for line in open(f"{work}/{who}.log"):
        f = line.split()
        if len(f) >= 5 and f[0].isdigit():
            out.setdefault(int(f[0]), []).append(float(f[1]))
    return {b: statistics.median(v) for b, v in out.items()}
cur, base = rows_per_s("current"), rows_per_s("baseline")
print(f"{'batch':>6} {'current rows/s':>15} {'baseline rows/s':>16} {'ratio':>7}")
for b in sorted(cur):
    print(f"{b:>6} {cur[b]:>15.0f} {base[b]:>16.0f} {cur[b] / base[b]:>7.3f}")
print("RESULT " + " ".join(f"b{b}={cur[b] / base[b]:.3f}" for b in sorted(cur)) + f" baseline={sha}")
PY
