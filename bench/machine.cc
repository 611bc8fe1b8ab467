#include "bench/machine.h"

#include <omp.h>

#include <chrono>
#include <fstream>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "bench/load_gen.h"
#include "core/nn/matrix.h"

namespace strata::bench {

std::string Machine::Describe() const {
  return absl::StrFormat("machine: cpu=\"%s\" fma_peak_gflops=%.1f gemm_gflops=%.1f threads=%d",
                         cpu, fma_peak_gflops, gemm_gflops, threads);
}

double MeasureFmaPeakGflops(int threads) {
  namespace ei = Eigen::internal;
  using Packet = ei::packet_traits<float>::type;
  constexpr int kLanes = ei::unpacket_traits<Packet>::size;
  constexpr int kChains = 10;
  constexpr int64_t kIterations = 2'000'000;
  std::vector<double> seconds;
  volatile float sink = 0;
  for (int rep = 0; rep < 8; ++rep) {
    const auto start = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads)
    {
      Packet acc[kChains];
      for (int c = 0; c < kChains; ++c) acc[c] = ei::pset1<Packet>(static_cast<float>(c));
      const Packet a = ei::pset1<Packet>(0.999999f), b = ei::pset1<Packet>(1e-7f);
      for (int64_t i = 0; i < kIterations; ++i) {
        // Ten independent chains (more than FMA latency x ports on every
        // target); without -ffast-math the compiler keeps every one.
        for (int c = 0; c < kChains; ++c) acc[c] = ei::pmadd(acc[c], a, b);
      }
      float total = 0;
      for (int c = 0; c < kChains; ++c) total += ei::pfirst(acc[c]);
#pragma omp critical
      sink = sink + total;
    }
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (rep > 0) seconds.push_back(s);  // the first warms the threads and clocks up
  }
  return 2.0 * kLanes * kChains * static_cast<double>(kIterations) * threads / Median(seconds) /
         1e9;
}

Machine MeasureMachine() {
  Machine m;
  m.cpu = "unknown";
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    absl::string_view rest = line;
    if (absl::ConsumePrefix(&rest, "model name")) {
      const size_t colon = rest.find(':');
      if (colon != absl::string_view::npos) m.cpu = std::string(absl::StripAsciiWhitespace(rest.substr(colon + 1)));
      break;
    }
  }
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
