#!/usr/bin/env bash
# The GEMM libraries on the network's own products (bench/gemm_libs.cc):
# strata's fixed-order kernel, Eigen, OpenBLAS, BLIS and oneDNN, at batch
# 1/16/128/256/4096 on 1 and 2 threads, each against the FMA peak measured in
# the same run; then strata's kernel again with its AVX2 set forced
# (STRATA_GEMM_ISA=avx2) where the CPU has AVX-512. Installs Debian's
# libopenblas-dev, libblis-dev and libdnnl-dev (loaded at run time; strata
# links none of them). About 2 minutes.
# Ends with: RESULT <library>_b128_<product>_t2=<fraction of the peak> ... peak_gflops=...
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh libopenblas-dev libblis-dev libdnnl-dev
bash deploy/build.sh >/dev/null
if grep -qw avx512f /proc/cpuinfo; then
  echo "--- the AVX2 kernels (STRATA_GEMM_ISA=avx2)"
  STRATA_GEMM_ISA=avx2 timeout 900 build/bin/gemm_libs_bench | grep -v '^RESULT'
  echo "--- the kernels this CPU runs"
fi
exec timeout 900 build/bin/gemm_libs_bench
