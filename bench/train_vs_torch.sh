#!/usr/bin/env bash
# One MNIST training epoch (784-1000-500-250-30 autoencoder, BCE, Adam, batch
# 128) in strata against PyTorch, side by side in the same run: ROUNDS rounds
# (default 3) of strata, PyTorch with 1 thread and PyTorch with 2 threads;
# each configuration's median counts, and PyTorch's faster thread count.
#
# The peer is Debian's python3-torch under /usr/bin/python3. Debian builds it
# against the generic libblas.so.3, which is reference BLAS (~30x slower)
# unless an optimized BLAS provides that alternative, so this script installs
# libopenblas0-openmp as well: the comparison is against a PyTorch set up the
# way a user would run it. Both need root and apt, once.
# Bounded: every run is one epoch, killed after 15 minutes.
#
# strata's side also prints the epoch's matrix-product work and the machine's
# fp32 FMA peak measured in the same run (bench/train_mnist.cc), so that the
# epoch's speed reads as a fraction of what the CPU can do.
#
# Ends with: RESULT ratio=<strata s / torch s> peak_fraction=<strata's epoch
#   GFLOP/s / FMA peak> strata_s=... torch_s=... peak_gflops=... gemm=<strata's
#   GEMM kernels> loss_strata=... loss_torch=... loss_diff_pct=...
#   torch_threads=... torch_blas=... cpu="..."
set -euo pipefail
cd "$(dirname "$0")/.."
export STRATA_MNIST_DIR="${STRATA_MNIST_DIR:-$PWD/../shared/data/mnist}"
ROUNDS=${ROUNDS:-3}
PY=/usr/bin/python3
need=()
"$PY" -c 'import torch' 2>/dev/null || need+=(python3-torch)
dpkg-query -W -f='${Status}' libopenblas0-openmp 2>/dev/null | grep -q "ok installed" ||
  need+=(libopenblas0-openmp)
if [[ ${#need[@]} -gt 0 ]]; then
  echo "installing ${need[*]} (Debian) for the PyTorch peer" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null
fi
torch_blas=$(basename "$(dirname "$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3)")")
echo "PyTorch's BLAS: $(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3)" >&2
bash deploy/build.sh >/dev/null

field() { sed -n "s/.*$2=\([^ ]*\).*/\1/p" <<<"$1"; }
median() { sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

declare -A seconds loss
peaks="" gflop="" gemm="" cpu=""
for ((round = 1; round <= ROUNDS; round++)); do
  out=$(timeout 900 build/bin/train_mnist_bench --epochs=1)
  line=$(grep '^STRATA' <<<"$out")
  cpu=$(sed -n 's/^machine: cpu="\([^"]*\)".*/\1/p' <<<"$out")
  echo "round $round: $line" >&2
  seconds[strata]+="$(field "$line" seconds) "
  loss[strata]=$(field "$line" loss)
  peaks+="$(field "$line" peak_gflops) "
  gflop=$(field "$line" gflop)
  gemm=$(field "$line" gemm)
  for threads in 1 2; do
    line=$(timeout 900 "$PY" bench/train_torch.py --threads "$threads")
    echo "round $round: $line" >&2
    seconds[torch$threads]+="$(field "$line" seconds) "
    loss[torch$threads]=$(field "$line" loss)
  done
done

strata_s=$(tr ' ' '\n' <<<"${seconds[strata]}" | grep . | median)
peak=$(tr ' ' '\n' <<<"$peaks" | grep . | median)
torch1_s=$(tr ' ' '\n' <<<"${seconds[torch1]}" | grep . | median)
torch2_s=$(tr ' ' '\n' <<<"${seconds[torch2]}" | grep . | median)
if awk -v a="$torch1_s" -v b="$torch2_s" 'BEGIN{exit !(a<b)}'; then
  threads=1 torch_s=$torch1_s
else
  threads=2 torch_s=$torch2_s
fi
awk -v s="$strata_s" -v t="$torch_s" -v ls="${loss[strata]}" -v lt="${loss[torch$threads]}" \
    -v th="$threads" -v t1="$torch1_s" -v t2="$torch2_s" -v r="$ROUNDS" -v peak="$peak" \
    -v gflop="$gflop" -v gemm="$gemm" -v blas="$torch_blas" -v cpu="$cpu" 'BEGIN {
  printf "medians of %d rounds: strata %.2f s; torch %.2f s (1 thread), %.2f s (2 threads)\n",
         r, s, t1, t2
  printf "strata: %.1f GFLOP in %.2f s = %.1f GFLOP/s, %.3f of the %.1f GFLOP/s FMA peak (%s, %s)\n",
         gflop, s, gflop / s, gflop / s / peak, peak, gemm, cpu
  printf "mean training loss: strata %.5f, torch %.5f (%+.2f%%)\n", ls, lt, 100 * (ls - lt) / lt
  printf "RESULT ratio=%.3f peak_fraction=%.3f strata_s=%.2f torch_s=%.2f peak_gflops=%.1f gemm=%s loss_strata=%.5f loss_torch=%.5f loss_diff_pct=%.2f torch_threads=%d torch_blas=%s cpu=\"%s\"\n",
         s / t, gflop / s / peak, s, t, peak, gemm, ls, lt, 100 * (ls - lt) / lt, th, blas, cpu
}'
