// The peak memory of a training job, estimated from its config and data
// shape before it starts, so that a server can refuse what it cannot hold
// instead of being killed part-way (a code width of 16384 alone asks the
// calibration for five 16384 x 16384 double matrices, 10.7 GB).
//
//   TrainingMemory m = EstimateTrainingMemory(resolved, /*input_dim=*/64, rows);
//   if (absl::Status s = CheckTrainingMemory(m, limit_bytes); !s.ok()) ...
//
// The estimate follows what the trainer (core/train/) and core/scoring/anomaly.cc allocate
// (the data and its scaled copies, weights with gradients, optimizer state
// and the early-stopping copy, one mini-batch's activations and deltas, the
// calibration's codes, sample and k x k matrices, and the serialized
// version); tests/core/train/train_memory_test.cc checks it against the peak of a
// real run. It is an upper bound to within the allocator's overheads, not a
// measurement.
#ifndef STRATA_CORE_TRAIN_TRAIN_MEMORY_H_
#define STRATA_CORE_TRAIN_TRAIN_MEMORY_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "strata/v1/train_config.pb.h"

namespace strata {

struct TrainingMemory {
  int64_t data_bytes = 0;         // the rows, scaled, split, and pretraining codes
  int64_t parameter_bytes = 0;    // weights, gradients, optimizer state, copies
  int64_t activation_bytes = 0;   // one mini-batch (and one evaluation chunk)
  int64_t calibration_bytes = 0;  // codes, the Gaussian's sample and k x k matrices
  int64_t total_bytes() const;    // saturates at INT64_MAX
  // "2.1 GiB (data 1.0 GiB, parameters ..., ...)".
  std::string ToString() const;
};

// REQUIRES: `resolved` came from ResolveTrainConfig for `input_dim`;
// rows >= 0. Saturates at INT64_MAX rather than overflowing. `mapped`: the
// rows are a RowFile's (Trainer::Train(const RowFile&)), held as row
// numbers only, calibrated on a sample of kMappedSampleValues.
TrainingMemory EstimateTrainingMemory(const v1::TrainConfig& resolved, int input_dim, int64_t rows,
                                      bool mapped = false);
inline constexpr double kMappedSampleValues = 1 << 24;

// ResourceExhausted, with the estimate and the flag, when it exceeds
// `limit_bytes` (> 0; 0 means no limit).
absl::Status CheckTrainingMemory(const TrainingMemory& memory, int64_t limit_bytes);

// "512 B", "3.0 MiB", "2.1 GiB".
std::string FormatBytes(int64_t bytes);
// "1073741824", "512MiB", "8G", "1.5GiB" (K, M, G, T: powers of 1024; an
// optional "iB" or "B"). InvalidArgument for anything else or a negative size.
absl::StatusOr<int64_t> ParseBytes(absl::string_view text);

}  // namespace strata

#endif  // STRATA_CORE_TRAIN_TRAIN_MEMORY_H_
