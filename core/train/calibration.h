// Calibration at the end of training: the anomaly score thresholds and
// distributions, the ensemble's, and the drift baseline, on the training
// rows (all of them in memory in one process; else every stride-th of
// every rank's, gathered within Trainer::Options::calibration_values, with
// the baseline's counts, sums and ranges then reduced over all rows).
//
// Internal to core/train/. Collective when data-parallel: every rank calls
// it. Not thread-safe.
#ifndef STRATA_CORE_TRAIN_CALIBRATION_H_
#define STRATA_CORE_TRAIN_CALIBRATION_H_

#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "core/base/collective.h"
#include "core/data/scaler.h"
#include "core/model/model.h"
#include "core/nn/classifier_head.h"
#include "core/nn/matrix.h"
#include "core/nn/stacked_autoencoder.h"
#include "core/train/data_parallel.h"
#include "strata/v1/train_config.pb.h"

namespace strata {
namespace train_internal {

// The training rows calibration runs on.
struct CalibrationRows {
  Collective* ranks = nullptr;  // null: one process
  const RowMap* map = nullptr;
  const Eigen::Ref<const Matrix>* data = nullptr;  // this rank's rows, raw
  const Matrix* in_memory = nullptr;               // `data` itself, or null (mapped)
  int64_t calibration_values = 0;                  // Trainer::Options'
  int input_dim = 0;
  // Trainer::Options::cancel.
  const std::atomic<bool>* cancel = nullptr;
};

// Every stride-th row is calibrated on: 1 in memory in one process, else
// within the budget of calibration_values (never fewer rows than a training
// set needs).
int64_t CalibrationStride(const v1::TrainConfig& config, const CalibrationRows& rows);

// Fills info->calibration (with the ensemble's: `net` then `others`) and
// info->drift_baseline, and adds to info->summary a warning when they come
// from a sample of the rows or rest on few rows above the threshold.
absl::Status Calibrate(const v1::TrainConfig& config, const CalibrationRows& rows,
                       const StackedAutoencoder& net, const std::vector<StackedAutoencoder>& others,
                       const Scaler& scaler, const ClassifierHead* head,
                       absl::Span<const int> classes, ModelInfo* info);

}  // namespace train_internal
}  // namespace strata

#endif  // STRATA_CORE_TRAIN_CALIBRATION_H_
