#include "bench/machine.h"

#include <chrono>
#include <fstream>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "bench/load_gen.h"
#include "core/matrix.h"

namespace strata::bench {

std::string Machine::Describe() const {
  return absl::StrFormat("machine: cpu=\"%s\" gemm_gflops=%.1f threads=%d", cpu, gemm_gflops,
                         threads);
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
