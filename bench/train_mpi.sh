#!/usr/bin/env bash
# Data-parallel training step of the MNIST network at 1 and 2 ranks on this
# machine (mpirun, Debian's Open MPI): compute and gradient all-reduce per
# step, the all-reduce's latency and bandwidth on loopback, and a ring
# all-reduce projection to 4, 16 and 64 machines on a 10 Gb/s network.
# Builds what it needs (Release, native arch); runs ~1 min.
# Ends with: RESULT allreduce_ms=... compute_ms=... projected_efficiency_16=...
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/build.sh >/dev/null
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
echo "== 1 rank, $(nproc) threads"
mpirun -np 1 --bind-to none build/bin/train_mpi_bench
echo "== 2 ranks, $(( $(nproc) / 2 > 0 ? $(nproc) / 2 : 1 )) threads each"
OMP_NUM_THREADS=$(( $(nproc) / 2 > 0 ? $(nproc) / 2 : 1 )) \
  mpirun -np 2 --bind-to none -x OMP_NUM_THREADS build/bin/train_mpi_bench
