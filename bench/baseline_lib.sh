# Shell helper for before/after benchmarks (sourced, not run).
#   build_baseline COMMIT TARGET...   builds TARGETs of COMMIT (Release, the same
#                                     STRATA_NATIVE as the current build) into
#                                     build/baseline-<sha12>, once; sets BASELINE_BUILD
#                                     and BASELINE_SHA
build_baseline() {
  local commit=$1
  shift
  BASELINE_SHA=$(git rev-parse --verify "$commit^{commit}")
  BASELINE_SHA=${BASELINE_SHA:0:12}
  BASELINE_BUILD="build/baseline-$BASELINE_SHA"
  local missing=0 target
  for target in "$@"; do [[ -x "$BASELINE_BUILD/bin/$target" ]] || missing=1; done
  [[ $missing == 0 ]] && return 0
  echo "building $* at $BASELINE_SHA into $BASELINE_BUILD" >&2
  mkdir -p "$BASELINE_BUILD/src"
  git archive "$BASELINE_SHA" | tar -x -C "$BASELINE_BUILD/src"
  cmake -S "$BASELINE_BUILD/src" -B "$BASELINE_BUILD" -DCMAKE_BUILD_TYPE=Release \
    -DSTRATA_NATIVE="${STRATA_NATIVE:-ON}" >/dev/null
  cmake --build "$BASELINE_BUILD" -j"$(nproc)" --target "$@" >/dev/null
}
