#include "bench/machine.h"

#include <immintrin.h>
#include <omp.h>

#include <chrono>
#include <fstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "bench/load_gen.h"
#include "core/nn/fixed_order_gemm.h"
#include "core/nn/matrix.h"

namespace strata::bench {

std::string Machine::Describe() const {
  return absl::StrFormat(
      "machine: cpu=\"%s\" fma_peak_gflops=%.1f threads=%d gemm=%s eigen_sgemm_gflops=%.1f", cpu,
      fma_peak_gflops, threads, gemm, gemm_gflops);
}

std::string CpuModel() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    absl::string_view rest = line;
    if (absl::ConsumePrefix(&rest, "model name")) {
      const size_t colon = rest.find(':');
      if (colon != absl::string_view::npos) {
        return std::string(absl::StripAsciiWhitespace(rest.substr(colon + 1)));
      }
    }
  }
  return "unknown";
}

std::string GemmName() { return absl::StrCat("strata-fixed-order-", FixedOrderKernelIsa()); }

namespace {

constexpr int kChains = 10;
constexpr int64_t kIterations = 2'000'000;

// kChains independent chains of kIterations fused multiply-adds, at each
// vector width (more chains than FMA latency x ports on every target;
// without -ffast-math the compiler keeps every one). Each is compiled for
// its own target and called only where the CPU has it, so that the peak is
// the machine's, not the build's: a portable build runs the GEMM's AVX-512
// kernels where they exist (core/nn/fixed_order_kernels.h).
__attribute__((target("avx512f"))) float Chains512() {
  __m512 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm512_set1_ps(static_cast<float>(c));
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (int64_t i = 0; i < kIterations; ++i) {
    for (int c = 0; c < kChains; ++c) acc[c] = _mm512_fmadd_ps(acc[c], a, b);
  }
  float total = 0;
  for (int c = 0; c < kChains; ++c) total += _mm512_cvtss_f32(acc[c]);
  return total;
}

__attribute__((target("avx2,fma"))) float Chains256() {
  __m256 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm256_set1_ps(static_cast<float>(c));
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (int64_t i = 0; i < kIterations; ++i) {
    for (int c = 0; c < kChains; ++c) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
  }
  float total = 0;
  for (int c = 0; c < kChains; ++c) total += _mm256_cvtss_f32(acc[c]);
  return total;
}

}  // namespace

double MeasureFmaPeakGflops(int threads) {
  __builtin_cpu_init();
  const bool wide = __builtin_cpu_supports("avx512f");
  const int lanes = wide ? 16 : 8;
  std::vector<double> seconds;
  volatile float sink = 0;
  for (int rep = 0; rep < 8; ++rep) {
    const auto start = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads)
    {
      const float total = wide ? Chains512() : Chains256();
#pragma omp critical
      sink = sink + total;
    }
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (rep > 0) seconds.push_back(s);  // the first warms the threads and clocks up
  }
  return 2.0 * lanes * kChains * static_cast<double>(kIterations) * threads / Median(seconds) /
         1e9;
}

Machine MeasureMachine() {
  Machine m;
  m.cpu = CpuModel();
  m.gemm = GemmName();
  constexpr int kN = 1024;
  const Matrix a = Matrix::Random(kN, kN), b = Matrix::Random(kN, kN);
  Matrix c(kN, kN);
  c.noalias() = a * b;  // warm-up
  std::vector<double> seconds;
  for (int i = 0; i < 9; ++i) {
    const auto start = std::chrono::steady_clock::now();
    c.noalias() = a * b;
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  m.gemm_gflops = 2.0 * kN * kN * kN / Median(seconds) / 1e9;
  m.threads = Eigen::nbThreads();
  m.fma_peak_gflops = MeasureFmaPeakGflops(m.threads);
  return m;
}

double MedianSeconds(const std::function<void()>& fn, int max_reps, double budget_s) {
  using Clock = std::chrono::steady_clock;
  fn();
  std::vector<double> seconds;
  const Clock::time_point start = Clock::now();
  while (static_cast<int>(seconds.size()) < max_reps &&
         (seconds.size() < 3 ||
          std::chrono::duration<double>(Clock::now() - start).count() < budget_s)) {
    const Clock::time_point t0 = Clock::now();
    fn();
    seconds.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return Median(std::move(seconds));
}

}  // namespace strata::bench
