// What a benchmark's speed figures were measured on: the CPU model (from
// /proc/cpuinfo) and Eigen's SGEMM ceiling on it, measured in the same run.
// CPUs differ (AVX-512 on Zen 4 and Zen 5 run GEMMs at very different
// speeds), so every speed figure is printed beside these.
//
//   const strata::bench::Machine m = strata::bench::MeasureMachine();
//   std::printf("%s\n", m.Describe().c_str());  // machine: cpu="..." gemm_gflops=... threads=...
#ifndef STRATA_BENCH_MACHINE_H_
#define STRATA_BENCH_MACHINE_H_

#include <functional>
#include <string>

namespace strata::bench {

struct Machine {
  std::string cpu;           // "model name" of /proc/cpuinfo; "unknown" without it
  double gemm_gflops = 0;    // median of a 1024^3 SGEMM, Eigen's threads
  int threads = 0;           // Eigen's threads for that GEMM

  std::string Describe() const;
};

// Takes about a second.
Machine MeasureMachine();

// Median seconds of `fn` after one warm-up call: at least 3 timings, at most
// `max_reps`, and no more once `budget_s` seconds are spent.
double MedianSeconds(const std::function<void()>& fn, int max_reps, double budget_s);

}  // namespace strata::bench

#endif  // STRATA_BENCH_MACHINE_H_
