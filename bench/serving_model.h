// The model the serving benchmarks call: 64 inputs, encoder 32-16-8, trained
// briefly on Gaussian rows (so it has its calibration and drift baseline).
#ifndef STRATA_BENCH_SERVING_MODEL_H_
#define STRATA_BENCH_SERVING_MODEL_H_

#include <string>

namespace strata::bench {

inline constexpr int kServingInputs = 64;
inline constexpr char kServingModelName[] = "bench";

// Trains the model and publishes it into the store at `root`; prints what it
// did. Returns a process exit code.
int PublishServingModel(const std::string& root);

}  // namespace strata::bench

#endif  // STRATA_BENCH_SERVING_MODEL_H_
