#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) and runs each for
# FUZZ_SECONDS (default 60) from its seed corpus in tests/fuzz/corpus/NAME.
# New inputs go to a scratch copy of the corpus; a crash, leak or sanitizer
# report fails the run and leaves the input in $FUZZ_OUT (default
# build-fuzz/findings) — turn it into a regression test.
#   bash deploy/fuzz.sh [NAME ...]    NAME: model_file csv request (default all)
set -euo pipefail
cd "$(dirname "$0")/.."
# clang with libFuzzer and the sanitizer runtimes, and LLVM's OpenMP.
bash deploy/install-deps.sh clang libclang-rt-14-dev libomp-14-dev
BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
SECONDS_EACH=${FUZZ_SECONDS:-60}
OUT=${FUZZ_OUT:-$BUILD_DIR/findings}
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(model_file csv request)

CXX=clang++ cmake -S . -B "$BUILD_DIR" -DSTRATA_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSTRATA_NATIVE="${STRATA_NATIVE:-ON}" >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)" --target "${targets[@]/%/_fuzzer}"

mkdir -p "$OUT"
status=0
for t in "${targets[@]}"; do
  work=$(mktemp -d)
  cp tests/fuzz/corpus/"$t"/* "$work"/
  echo "fuzzing $t for ${SECONDS_EACH}s"
  if "$BUILD_DIR/tests/fuzz/${t}_fuzzer" -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 \
       -max_len=65536 -print_final_stats=1 -artifact_prefix="$OUT/${t}-" "$work" \
       >"$OUT/$t.log" 2>&1; then
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$OUT/$t.log" | tr '\n' ' '
    echo "-> $t: no finding"
  else
    echo "-> $t: FINDING (see $OUT/$t.log and $OUT/${t}-*)"
    tail -40 "$OUT/$t.log"
    status=1
  fi
  rm -rf "$work"
done
exit $status
