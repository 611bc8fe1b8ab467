// Anomaly scores from reconstruction errors, and their calibration.
//
// A row's score is the mean over features of its squared (or absolute)
// reconstruction error in scaled space, where every feature weighs the same.
// At the end of training the scores of the training rows give each metric a
// threshold (a percentile of them) and a quantile table, so serving can say
// how unusual a score is:
//
//   v1::AnomalyCalibration c = CalibrateAnomalyScores(net, scaler, train_raw, 99.0);
//   Matrix errors = FeatureErrors(net, scaler, batch, ScoreMetric::kMeanSquared);
//   float score = errors.row(0).mean();
//   bool anomaly = score > c.mean_squared().threshold();
//   double pct = PercentileOfScore(c.mean_squared(), score);
#ifndef STRATA_CORE_ANOMALY_H_
#define STRATA_CORE_ANOMALY_H_

#include <vector>

#include "core/matrix.h"
#include "core/scaler.h"
#include "core/stacked_autoencoder.h"
#include "strata/v1/model.pb.h"

namespace strata {

enum class ScoreMetric { kMeanSquared, kMeanAbsolute };

// Per row and feature: the squared or absolute reconstruction error of raw
// rows, in scaled space; the code layer's features too when `code` is not
// null. REQUIRES: raw.cols() == net.input_dim(), finite.
Matrix FeatureErrors(const StackedAutoencoder& net, const Scaler& scaler, const Matrix& raw,
                     ScoreMetric metric, Matrix* code = nullptr);

// The (linearly interpolated) p-th percentile, p in [0, 100], of `sorted`.
// REQUIRES: sorted ascending and non-empty.
double Percentile(const std::vector<float>& sorted, double p);

// Threshold and quantile table of `scores`.
v1::ScoreDistribution DescribeScores(std::vector<float> scores, double threshold_percentile);

// Scores every row of `raw` (in chunks, to bound memory) with both metrics
// and describes them. REQUIRES: raw has at least one row.
v1::AnomalyCalibration CalibrateAnomalyScores(const StackedAutoencoder& net, const Scaler& scaler,
                                              const Matrix& raw, double threshold_percentile);

// Share (0-100) of the training rows whose score is at most `score`,
// interpolated in the quantile table. 0 for an empty table.
double PercentileOfScore(const v1::ScoreDistribution& distribution, float score);

}  // namespace strata

#endif  // STRATA_CORE_ANOMALY_H_
