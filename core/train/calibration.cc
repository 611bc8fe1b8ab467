#include "core/train/calibration.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/base/cancellation.h"
#include "core/scoring/anomaly.h"
#include "core/scoring/drift.h"
#include "core/scoring/ensemble_score.h"
#include "core/train/train_config.h"

namespace strata {
namespace train_internal {
namespace {

// The anomaly calibration of `net` and the ensemble's of `net` and `others`
// on `calibration_rows`, into info->calibration.
absl::Status CalibrateScores(const v1::TrainConfig& config, const StackedAutoencoder& net,
                             const std::vector<StackedAutoencoder>& others, const Scaler& scaler,
                             const Matrix& calibration_rows, const std::atomic<bool>* cancel,
                             ModelInfo* info) {
  absl::StatusOr<v1::AnomalyCalibration> calibration = CalibrateAnomalyScores(
      net, scaler, calibration_rows, config.anomaly().threshold_percentile(), cancel);
  if (!calibration.ok()) return calibration.status();
  info->calibration = *std::move(calibration);
  std::vector<const StackedAutoencoder*> nets = {&net};
  for (const StackedAutoencoder& other : others) nets.push_back(&other);
  absl::StatusOr<v1::EnsembleCalibration> ensemble = CalibrateEnsemble(
      nets, scaler, calibration_rows, info->calibration.code(),
      config.anomaly().threshold_percentile(), config.seed() ^ 0xf0'4e57ULL, cancel);
  if (!ensemble.ok()) return ensemble.status();
  *info->calibration.mutable_ensemble() = *std::move(ensemble);
  return absl::OkStatus();
}

// A warning when the threshold rests on few of the rows it came from (a
// sample of them, data-parallel beyond the gather budget).
void WarnIfWeakCalibration(const v1::TrainConfig& config, int64_t calibrated,
                           v1::TrainingSummary* summary) {
  const double percentile = config.anomaly().threshold_percentile();
  const double above = static_cast<double>(calibrated) * (100 - percentile) / 100;
  if (percentile < 100 && above < kMinRowsAboveThreshold) {
    summary->add_warnings(absl::StrFormat(
        "weak calibration: the p%g threshold rests on %.1f of the %d training rows above it "
        "(fewer than %g); train on more rows, or lower anomaly.threshold_percentile, for a "
        "firmer one",
        percentile, above, calibrated, kMinRowsAboveThreshold));
  }
}

}  // namespace

int64_t CalibrationStride(const v1::TrainConfig& config, const CalibrationRows& rows) {
  if (rows.ranks == nullptr && rows.in_memory != nullptr) return 1;
  const int64_t budget = std::max<int64_t>(rows.calibration_values / rows.input_dim, 1);
  // Every stride-th of N rows is ceil(N / stride) rows: never fewer than a
  // training set needs to calibrate on, however small calibration_values is,
  // when the stride is at most floor(N / MinTrainingRows).
  const int64_t global = rows.map->global;
  return std::min((global + budget - 1) / budget,
                  std::max<int64_t>(global / MinTrainingRows(config), 1));
}

absl::Status Calibrate(const v1::TrainConfig& config, const CalibrationRows& rows,
                       const StackedAutoencoder& net, const std::vector<StackedAutoencoder>& others,
                       const Scaler& scaler, const ClassifierHead* head,
                       absl::Span<const int> classes, ModelInfo* info) {
  Collective* const ranks = rows.ranks;
  // Data-parallel: calibration and the baseline run on every rank's rows
  // (or every stride-th of them) gathered in their global order, on every
  // rank; mapped, on every stride-th row. The baseline's counts, sums and
  // ranges then cover all rows.
  const bool gather = ranks != nullptr || rows.in_memory == nullptr;
  const int64_t stride = CalibrationStride(config, rows);
  Matrix gathered;
  if (gather) gathered = GatherEveryRank(ranks, *rows.map, *rows.data, stride);
  // In memory in one process, the rows themselves (no copy).
  const Matrix& calibration_rows = gather ? gathered : *rows.in_memory;
  // A rank must not leave a collective the others wait in: data-parallel,
  // cancelling is agreed on between steps, and the last check below.
  const std::atomic<bool>* const cancel = ranks != nullptr ? nullptr : rows.cancel;
  if (absl::Status s = CalibrateScores(config, net, others, scaler, calibration_rows, cancel, info);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<v1::DriftBaseline> baseline = ComputeDriftBaseline(
      net, scaler, calibration_rows, config.drift_bins(), info->calibration, {head, classes});
  if (!baseline.ok()) return baseline.status();
  if (stride > 1) {
    if (absl::Status s = ReduceDriftBaseline(ranks, net, scaler, *rows.data, &*baseline); !s.ok()) {
      return s;
    }
    info->summary.add_warnings(absl::StrFormat(
        "calibration thresholds and drift bin edges come from every %d-th of the %d rows (%d "
        "rows%s); the drift baseline's shares, moments and ranges cover all rows",
        stride, rows.map->global, calibration_rows.rows(),
        ranks != nullptr ? absl::StrCat(" gathered from ", rows.map->size, " ranks") : ""));
  }
  if (absl::Status s = AgreeOnStatus(ranks, CheckCancel(rows.cancel, "the drift baseline"));
      !s.ok()) {
    return s;
  }
  info->drift_baseline = *std::move(baseline);
  WarnIfWeakCalibration(config, calibration_rows.rows(), &info->summary);
  return absl::OkStatus();
}

}  // namespace train_internal
}  // namespace strata
