#!/usr/bin/env bash
# Encode efficiency of the core against the machine's FMA peak, measured in the
# same run (bench/encode_core.cc), in the native build (build/, -march=native)
# and the portable one the image ships (build-portable/, STRATA_NATIVE=OFF:
# x86-64-v3, with the GEMM's AVX-512 kernels chosen at run time). Builds both
# (Release) if needed, then runs them in ABBA order; each figure is the median
# of its runs. About 2 minutes once built.
# Ends with:
#   RESULT peak_fraction_b256=... peak_fraction_b16=... peak_gflops=...
#          native_vs_portable=<portable rows/s / native rows/s at batch 256>
#          portable_vs_native_b16=... gemm=... cpu="..."
#
#   bash bench/encode_core.sh
#   bash bench/encode_core.sh --baseline=COMMIT
#       instead builds COMMIT's encode_core_bench (cached in build/baseline-<sha>)
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
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [[ -z "$baseline" ]]; then
  cmake -S . -B build-portable -DCMAKE_BUILD_TYPE=Release -DSTRATA_NATIVE=OFF >/dev/null
  cmake --build build-portable -j"$(nproc)" --target encode_core_bench >/dev/null
  for who in native portable portable native native portable; do
    if [[ $who == native ]]; then bin=build/bin/encode_core_bench
    else bin=build-portable/bin/encode_core_bench; fi
    echo "--- $who" >&2
    timeout 300 "$bin" | tee -a "$work/$who.log" >&2
  done
  /usr/bin/python3 - "$work" <<'PY'
import re, statistics, sys
work = sys.argv[1]
def results(who):
    runs = [dict(re.findall(r"(\w+)=(\S+)", line)) for line in open(f"{work}/{who}.log")
            if line.startswith("RESULT")]
    return {k: statistics.median(float(r[k]) for r in runs) for k in runs[0] if k != "gemm"}, runs[0]["gemm"]
def cpu(who):
    for line in open(f"{work}/{who}.log"):
        m = re.search(r'cpu="([^"]*)"', line)
        if m: return m.group(1)
native, gemm = results("native")
portable, _ = results("portable")
print(f"{'batch':>6} {'native rows/s':>14} {'portable rows/s':>16} {'portable/native':>16} {'native of peak':>15}")
for b in (1, 16, 256, 4096):
    n, p = native[f"rows_per_s_b{b}"], portable[f"rows_per_s_b{b}"]
    frac = native.get(f"peak_fraction_b{b}", float("nan"))
    print(f"{b:>6} {n:>14.0f} {p:>16.0f} {p / n:>16.3f} {frac:>15.3f}")
print(f"RESULT peak_fraction_b256={native['peak_fraction_b256']:.3f} "
      f"peak_fraction_b16={native['peak_fraction_b16']:.3f} peak_gflops={native['peak_gflops']:.1f} "
      f"native_vs_portable={portable['rows_per_s_b256'] / native['rows_per_s_b256']:.3f} "
      f"portable_vs_native_b16={portable['rows_per_s_b16'] / native['rows_per_s_b16']:.3f} "
      f"gemm={gemm} cpu=\"{cpu('native')}\"")
PY
  exit 0
fi

source bench/baseline_lib.sh
build_baseline "$baseline" encode_core_bench
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
