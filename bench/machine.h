// What a benchmark's speed figures were measured on: the CPU model (from
// /proc/cpuinfo), its fp32 FMA peak and Eigen's SGEMM ceiling on it,
// measured in the same run.
// CPUs differ (AVX-512 on Zen 4 and Zen 5 run GEMMs at very different
// speeds), so every speed figure is printed beside these.
//
//   const strata::bench::Machine m = strata::bench::MeasureMachine();
//   std::printf("%s\n", m.Describe().c_str());  // machine: cpu="..." fma_peak_gflops=...
//   gemm_gflops=... threads=...
#ifndef STRATA_BENCH_MACHINE_H_
#define STRATA_BENCH_MACHINE_H_

#include <functional>
#include <string>

namespace strata::bench {

struct Machine {
  std::string cpu;           // CpuModel()
  std::string gemm;          // GemmName()
  double gemm_gflops = 0;    // median of a 1024^3 SGEMM, Eigen's threads
  int threads = 0;           // Eigen's threads for that GEMM
  // fp32 fused multiply-adds at the CPU's full vector width (AVX-512 where
  // it has it, whatever the build's target) on `threads` threads, 10
  // independent chains each (enough to hide the FMA latency): the most any
  // GEMM could do here, in GFLOP/s (2 per multiply-add).
  double fma_peak_gflops = 0;

  std::string Describe() const;
};

// "model name" of /proc/cpuinfo; "unknown" without it.
std::string CpuModel();

// The GEMM every product of the core runs, with the instruction set chosen
// for this CPU: "strata-fixed-order-avx512" (core/nn/fixed_order_gemm.h).
std::string GemmName();

// Takes about a second.
Machine MeasureMachine();

// The fp32 FMA peak alone (Machine::fma_peak_gflops), on `threads` OpenMP
// threads; median of 7 timings of about 20 ms.
double MeasureFmaPeakGflops(int threads);

// Median seconds of `fn` after one warm-up call: at least 3 timings, at most
// `max_reps`, and no more once `budget_s` seconds are spent.
double MedianSeconds(const std::function<void()>& fn, int max_reps, double budget_s);

}  // namespace strata::bench

#endif  // STRATA_BENCH_MACHINE_H_
