// Encode efficiency of the core against the machine's FMA peak.
//
// The Hinton & Salakhutdinov MNIST encoder (784-1000-500-250-30, relu, linear
// code) encodes batches of 1, 16, 256 and 4096 rows through Model::Encode
// (validation and scaling included). The peak is the fp32 FMA throughput of
// the same threads, measured in the same run (bench/machine.h); Eigen's
// 2048^3 SGEMM is printed beside it for reference. Every figure is the
// median of repeated timings, each loop bounded in count and time.
//
// Prints a table and a final line:
//   RESULT peak_fraction_b256=<GFLOP/s at 256 / peak> peak_fraction_b16=...
//     peak_fraction_b4096=... peak_gflops=... rows_per_s_b1=... rows_per_s_b16=...
//     rows_per_s_b256=... rows_per_s_b4096=... gemm=...
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"

#include "bench/machine.h"
#include "core/data/scaler.h"
#include "core/model/model.h"
#include "core/nn/allocator.h"
#include "core/nn/stacked_autoencoder.h"

namespace {

strata::Matrix Random(int rows, int cols, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  strata::Matrix m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = u(rng);
  return m;
}

}  // namespace

int main() {
  strata::KeepBatchBuffersInHeap();  // as strata-server runs
  // For reference: Eigen's own SGEMM on large square matrices.
  constexpr int kN = 2048;
  const strata::Matrix a = Random(kN, kN, 1), b = Random(kN, kN, 2);
  strata::Matrix c(kN, kN);
  const double gemm_s = strata::bench::MedianSeconds([&] { c.noalias() = a * b; }, 15, 5.0);
  const double ceiling = 2.0 * kN * kN * kN / gemm_s / 1e9;

  strata::v1::Architecture arch;
  arch.set_input_dim(784);
  for (int w : {1000, 500, 250, 30}) arch.add_encoder_widths(w);
  for (auto act : {strata::v1::RELU, strata::v1::RELU, strata::v1::RELU, strata::v1::LINEAR}) {
    arch.add_encoder_activations(act);
  }
  arch.set_output_activation(strata::v1::SIGMOID);
  auto net = strata::StackedAutoencoder::Create(arch, 7);
  const strata::Matrix train = Random(1000, 784, 3);
  strata::Model model(*std::move(net), *strata::Scaler::Fit(strata::v1::MINMAX, train), {});
  const double flops_per_row = 2.0 * (784 * 1000 + 1000 * 500 + 500 * 250 + 250 * 30);

  const strata::bench::Machine machine = strata::bench::MeasureMachine();
  std::printf("%s\n", machine.Describe().c_str());
  std::printf(
      "Eigen SGEMM %dx%dx%d: %.1f GFLOP/s (median %.1f ms), %d threads, %.2f of the FMA "
      "peak\n",
      kN, kN, kN, ceiling, gemm_s * 1e3, Eigen::nbThreads(), ceiling / machine.fma_peak_gflops);
  std::printf("%8s %14s %12s %12s %8s %10s\n", "batch", "rows/s", "GFLOP/s", "median_us",
              "of peak", "of Eigen");
  std::string result;
  for (int batch : {1, 16, 256, 4096}) {
    const strata::Matrix x = Random(batch, 784, 10 + batch);
    volatile float sink = 0;
    const double s = strata::bench::MedianSeconds(
        [&] {
          auto code = model.Encode(x, model.depth());
          sink = sink + (*code)(0, 0);
        },
        batch >= 256 ? 200 : 20000, 3.0);
    const double gflops = flops_per_row * batch / s / 1e9;
    const double fraction = gflops / machine.fma_peak_gflops;
    std::printf("%8d %14.0f %12.1f %12.1f %8.3f %10.2f\n", batch, batch / s, gflops, s * 1e6,
                fraction, gflops / ceiling);
    if (batch > 1) absl::StrAppendFormat(&result, " peak_fraction_b%d=%.3f", batch, fraction);
    absl::StrAppendFormat(&result, " rows_per_s_b%d=%.0f", batch, batch / s);
  }
  std::printf("RESULT%s peak_gflops=%.1f gemm=%s\n", result.c_str(), machine.fma_peak_gflops,
              machine.gemm.c_str());
  return 0;
}
