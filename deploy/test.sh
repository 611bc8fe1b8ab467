#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run):
#   1. Release build: the size limits (deploy/check_size.py: no source file
#      over 600 lines, no function over 120, by clang-tidy), then every test
#      (unit, integration, e2e) with ctest.
#   2. ASan + UBSan build (build-asan): unit and integration tests. Built
#      portable (x86-64-v3: AVX2, no AVX-512) whatever the machine, and run
#      with the GEMM's AVX2 kernels (STRATA_GEMM_ISA=avx2; the portable build
#      would otherwise choose AVX-512 ones at run time where the CPU has
#      them), so that one run exercises both instruction sets on an AVX-512
#      machine: a test passing in stage 1 and failing here has found code
#      whose answer depends on the instruction set.
#   3. TSan build (build-tsan, TSAN_BUILD_DIR), compiled with clang: the
#      concurrency tests (hot swap, streams, batching, jobs, registry, drift
#      windows). clang also checks the locking annotations of core/ and
#      server/ (-Werror=thread-safety, see CMakeLists.txt), so a lock the code
#      forgets fails this build; one build pays for both.
#   4. libFuzzer targets, FUZZ_SECONDS (60) each from their seed corpora.
# Sanitizer builds use -O1 -g1 (quicker to compile, line numbers kept).
# Each stage ends with ctest's (or the fuzzer's) summary; the first failing
# stage fails the run.
# Arguments go to stage 1's ctest and skip the rest, e.g. -L unit or -R Grad;
# STRATA_QUICK=1 also runs stage 1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
started=$SECONDS
stage() { echo; echo "=== $* ($((SECONDS - started)) s in)"; }
# Builds quietly (sanitizer builds repeat the release build's compiler
# warnings); on failure shows the end of the log and stops.
quiet_build() {
  local dir=$1
  shift
  cmake --build "$dir" -j"$jobs" "$@" >"$dir/build.log" 2>&1 || {
    grep -E "error" "$dir/build.log" | head -40
    tail -20 "$dir/build.log"
    exit 1
  }
}

stage "1/4 release build: all tests"
bash deploy/build.sh
bash deploy/install-deps.sh clang-tidy
/usr/bin/python3 deploy/check_size.py --build "${BUILD_DIR:-build}"
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j"$jobs" "$@"
if [[ $# -gt 0 || "${STRATA_QUICK:-0}" == 1 ]]; then exit 0; fi

stage "2/4 ASan + UBSan: unit and integration tests"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" -DSTRATA_SANITIZER=address \
  -DSTRATA_BUILD_BENCH=OFF -DSTRATA_E2E_TESTS=OFF -DSTRATA_NATIVE=OFF >/dev/null
quiet_build build-asan
ASAN_OPTIONS=detect_leaks=1 STRATA_GEMM_ISA=avx2 ctest --test-dir build-asan --output-on-failure -j"$jobs" \
  -L "unit|integration"

stage "3/4 TSan (clang, thread-safety analysis): concurrency tests"
bash deploy/install-deps.sh clang libclang-rt-14-dev libomp-14-dev
tsan_dir=${TSAN_BUILD_DIR:-build-tsan}
tsan_targets=(strata_server_test server_inference_test oip_service_test train_job_rpc_test supervised_job_rpc_test sweep_rpc_test drift_rpc_test inference_service_test ordered_stream_test model_registry_test train_jobs_test train_job_submit_test train_job_sweep_test batcher_test drift_test data_parallel_test)
# A tree configured with another compiler (GCC, before) starts afresh.
if [[ -f $tsan_dir/CMakeCache.txt ]] && ! grep -q "^CMAKE_CXX_COMPILER:FILEPATH=.*clang++" "$tsan_dir/CMakeCache.txt"; then
  rm -rf "$tsan_dir"
fi
CXX=clang++ cmake -S . -B "$tsan_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
  -DSTRATA_SANITIZER=thread -DSTRATA_BUILD_BENCH=OFF -DSTRATA_NATIVE="${STRATA_NATIVE:-ON}" >/dev/null
quiet_build "$tsan_dir" --target "${tsan_targets[@]}"
ctest --test-dir "$tsan_dir" --output-on-failure -j"$jobs" \
  -R "HotSwap|InferenceTest|ScoreStream|OipService|OrderedStream|BatcherTest|ModelRegistryTest|TrainJobsTest|Drift|Concurrent|Cancel|StoreWrites|DataParallel"

stage "4/4 fuzzers, ${FUZZ_SECONDS:-60} s each"
bash deploy/fuzz.sh
echo
echo "all stages passed in $((SECONDS - started)) s"
