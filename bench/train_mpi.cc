// Data-parallel training step of the MNIST network (784-1000-500-250-30,
// Hinton & Salakhutdinov's), at the ranks mpirun started: the step's time
// split into compute (forward and backward on this rank's batch) and the
// gradient all-reduce, with the all-reduce's latency (alpha) and bandwidth
// (beta) measured on this machine. Run by bench/train_mpi.sh at 1 and 2
// ranks; the 2-rank run projects N machines with the ring all-reduce model
//   t_allreduce(N) = alpha + 2 (N - 1) / N * bytes / beta
// for a 10 Gb/s network.
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <random>

#include "bench/machine.h"
#include "client/mpi_collective.h"
#include "core/nn/backprop.h"
#include "core/nn/stacked_autoencoder.h"
#include "core/train/train_config.h"

namespace strata::bench {
namespace {

constexpr int kBatchPerRank = 64;
constexpr double kMnistRows = 60000;
// A 10 Gb/s network: its bandwidth, and a TCP all-reduce's per-call latency
// there (an assumption, stated with the projection; loopback's is printed).
constexpr double kNetworkBytesPerS = 10e9 / 8;
constexpr double kNetworkAlphaS = 50e-6;

int Main() {
  absl::StatusOr<std::unique_ptr<cli::MpiCollective>> mpi = cli::MpiCollective::FromEnvironment();
  if (!mpi.ok()) {
    std::fprintf(stderr, "%s\n", mpi.status().ToString().c_str());
    return 1;
  }
  Collective* ranks = mpi->get();
  const int n = ranks ? ranks->size() : 1;
  const int rank = ranks ? ranks->rank() : 0;
  Machine machine;
  if (rank == 0) machine = MeasureMachine();

  v1::TrainConfig config;
  for (int w : {1000, 500, 250, 30}) config.add_encoder_widths(w);
  const v1::TrainConfig resolved = *ResolveTrainConfig(config, 784);
  StackedAutoencoder net = *StackedAutoencoder::Create(ArchitectureFromConfig(resolved, 784), 1);
  std::mt19937 rng(rank + 1);
  std::uniform_real_distribution<float> u(0, 1);
  Matrix batch(kBatchPerRank, 784);
  for (Eigen::Index i = 0; i < batch.size(); ++i) batch.data()[i] = u(rng);
  Backprop<float> backprop;
  Parameters grads;
  std::mt19937_64 dropout(1);
  const ObjectiveOptions objective;
  const double compute_s = MedianSeconds(
      [&] { backprop.Compute(net, batch, batch, objective, &dropout, &grads); }, 30, 10);
  size_t floats = 0;
  for (const ParameterBlock<float>& b : grads.Blocks()) floats += static_cast<size_t>(b.size);
  std::vector<float> buffer(floats, 1.0f);
  const double bytes = 4.0 * static_cast<double>(floats);
  double allreduce_s = 0, alpha_s = 0;
  if (ranks != nullptr) {
    // Every rank runs the same reps: the barrier keeps the timings aligned.
    const auto timed = [&](absl::Span<float> values) {
      std::vector<double> t;
      for (int rep = 0; rep < 20; ++rep) {
        MPI_Barrier(MPI_COMM_WORLD);
        const double start = MPI_Wtime();
        ranks->AllReduce(values, Collective::Op::kSum);
        t.push_back(MPI_Wtime() - start);
      }
      std::nth_element(t.begin(), t.begin() + 10, t.end());
      return t[10];
    };
    std::vector<float> one(1, 1.0f);
    alpha_s = timed(absl::MakeSpan(one));
    allreduce_s = timed(absl::MakeSpan(buffer));
  }
  if (rank != 0) return 0;
  std::printf("%s\n", machine.Describe().c_str());
  std::printf("ranks=%d batch_per_rank=%d params=%zu (%.1f MB) compute_ms=%.2f allreduce_ms=%.2f\n",
              n, kBatchPerRank, floats, bytes / 1e6, compute_s * 1e3, allreduce_s * 1e3);
  if (ranks == nullptr) {
    std::printf("RESULT ranks=1 compute_ms=%.2f gemm_gflops=%.0f\n", compute_s * 1e3,
                machine.gemm_gflops);
    return 0;
  }
  // Loopback: alpha from a 1-float all-reduce; beta from the gradient's,
  // which moves 2 (n - 1) / n of its bytes per rank in a ring.
  const double ring = 2.0 * (n - 1) / n;
  const double beta = ring * bytes / std::max(allreduce_s - alpha_s, 1e-9);
  std::printf("loopback: alpha_us=%.1f beta_gb_s=%.2f\n", alpha_s * 1e6, beta / 1e9);
  std::printf(
      "projection, 10 Gb/s network (beta %.2f GB/s, alpha %.0f us assumed), weak scaling at %d "
      "rows a rank, MNIST's 60,000 rows an epoch:\n",
      kNetworkBytesPerS / 1e9, kNetworkAlphaS * 1e6, kBatchPerRank);
  std::printf("%8s %12s %14s %12s %12s\n", "machines", "step_ms", "allreduce_ms", "epoch_s",
              "efficiency");
  double efficiency_16 = 0;
  for (int machines : {1, 2, 4, 16, 64}) {
    const double t_ar = machines == 1 ? 0
                                      : kNetworkAlphaS + 2.0 * (machines - 1) / machines * bytes /
                                                             kNetworkBytesPerS;
    const double step = compute_s + t_ar;
    const double epoch = kMnistRows / (kBatchPerRank * machines) * step;
    const double efficiency = compute_s / step;
    if (machines == 16) efficiency_16 = efficiency;
    std::printf("%8d %12.2f %14.2f %12.2f %12.3f\n", machines, step * 1e3, t_ar * 1e3, epoch,
                efficiency);
  }
  std::printf("RESULT allreduce_ms=%.2f compute_ms=%.2f projected_efficiency_16=%.3f "
              "alpha_us=%.1f beta_gb_s=%.2f ranks=%d gemm_gflops=%.0f\n",
              allreduce_s * 1e3, compute_s * 1e3, efficiency_16, alpha_s * 1e6, beta / 1e9, n,
              machine.gemm_gflops);
  return 0;
}

}  // namespace
}  // namespace strata::bench

int main() { return strata::bench::Main(); }
