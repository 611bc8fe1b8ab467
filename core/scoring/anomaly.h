// Anomaly scores from reconstruction errors and codes, and their calibration.
//
// Four scores, all in scaled space, where every feature weighs the same:
// - mean squared / mean absolute: the mean over features of the row's
//   squared (absolute) reconstruction error;
// - code distance: the squared Mahalanobis distance of the row's code from a
//   Gaussian fitted to the training rows' codes (robustly: refitted on the
//   80% nearest the first fit, so that anomalies in the training data do
//   not widen it), scaled so that the median training row scores 1;
// - combined: code distance + MSE / (median training MSE), the default, where
//   both terms are 1 for the median training row. A
//   row the model reconstructs badly is off the training data's manifold; a
//   row it reconstructs well can still sit far from where the training rows
//   lie on it. Each term alone misses one of the two.
// At the end of training the scores of the training rows give each metric a
// threshold (a percentile of them) and a quantile table, so serving can say
// how unusual a score is:
//
//   v1::AnomalyCalibration c = CalibrateAnomalyScores(net, scaler, train_raw, 99.0);
//   Matrix code;
//   Matrix errors = FeatureErrors(net, scaler, batch, ScoreMetric::kCombined, &code);
//   Eigen::VectorXf scores = RowScores(c, ScoreMetric::kCombined, errors, code);
//   const v1::ScoreDistribution& d = ScoreDistributionOf(c, ScoreMetric::kCombined);
//   bool anomaly = scores(0) > d.threshold();
//   double pct = PercentileOfScore(d, scores(0));
#ifndef STRATA_CORE_SCORING_ANOMALY_H_
#define STRATA_CORE_SCORING_ANOMALY_H_

#include <atomic>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/data/scaler.h"
#include "core/nn/matrix.h"
#include "core/nn/stacked_autoencoder.h"
#include "strata/v1/model.pb.h"

namespace strata {

// kEnsemble is core/scoring/ensemble_score.h's score, which Model::Score computes
// (it needs every network of the ensemble).
enum class ScoreMetric { kMeanSquared, kMeanAbsolute, kCodeDistance, kCombined, kEnsemble };

// Whether `metric` scores from the code (and needs HasCodeScores).
inline bool UsesCode(ScoreMetric metric) {
  return metric == ScoreMetric::kCodeDistance || metric == ScoreMetric::kCombined;
}

// Whether the calibration has the code's Gaussian (models trained before the
// code scores existed do not).
bool HasCodeScores(const v1::AnomalyCalibration& c);

// Whether the calibration has the ensemble score (models trained before it
// do not).
bool HasEnsembleScore(const v1::AnomalyCalibration& c);

// The score a model answers with when none is asked for: kEnsemble when the
// calibration has it, else kCombined when it has code scores, else
// kMeanSquared.
ScoreMetric DefaultMetric(const v1::AnomalyCalibration& c);

// What a metric computes, in one line a user can follow (the report's and
// `strata eval`'s description of the score).
const char* MetricDescription(ScoreMetric metric);

// The CLI's name of a metric: "mse", "mae", "code", "combined" or "ensemble".
const char* MetricName(ScoreMetric metric);

// The combined score from each row's reconstruction MSE (scaled space) and
// its code. REQUIRES: HasCodeScores(c); row_mse.size() == codes.rows().
Eigen::VectorXf CombinedScores(const v1::AnomalyCalibration& c, const Eigen::VectorXf& row_mse,
                               const Matrix& codes);

// Per row and feature: the reconstruction error of raw rows in scaled space,
// absolute for kMeanAbsolute and squared otherwise; the code layer's
// features too when `code` is not null. REQUIRES: raw.cols() ==
// net.input_dim(), finite.
Matrix FeatureErrors(const StackedAutoencoder& net, const Scaler& scaler, const Matrix& raw,
                     ScoreMetric metric, Matrix* code = nullptr);

// FeatureErrors of rows already scaled.
Matrix ScaledFeatureErrors(const StackedAutoencoder& net, const Matrix& scaled, ScoreMetric metric,
                           Matrix* code = nullptr);

// Each row's score under `metric` from its FeatureErrors (same metric) and,
// for the code metrics, its code. REQUIRES: errors.rows() == code.rows() and
// code.cols() == c.code().mean_size() for the code metrics, which need
// HasCodeScores(c); metric != kEnsemble.
Eigen::VectorXf RowScores(const v1::AnomalyCalibration& c, ScoreMetric metric,
                          const Matrix& errors, const Matrix& code);

// The calibrated distribution of a metric's training scores (empty for a
// metric the calibration lacks).
const v1::ScoreDistribution& ScoreDistributionOf(const v1::AnomalyCalibration& c,
                                                 ScoreMetric metric);

// The largest ratio between the code covariance's eigenvalues that a fit
// keeps: the precision's condition number is at most this.
inline constexpr double kMaxCodeConditionNumber = 1e4;

// The covariance of rows already centred, shrunk toward mu * I (mu its mean
// eigenvalue) by the amount Ledoit and Wolf (2004) derive from the rows
// themselves: little for many rows in few dimensions, more where the
// sample covariance is noisy. It keeps the weakest directions of a code
// from being fitted to noise.
Eigen::MatrixXd ShrunkCovariance(const Eigen::MatrixXd& centered);

// Each row's mean, summed in double in one fixed order: a row's
// value never depends on the rows beside it (Eigen's rowwise().mean()
// vectorises by the row's memory alignment, which does). Every score's
// row mean, in calibration and serving, is this one.
Eigen::VectorXf RowMeans(const Matrix& values);

// Mean and (inverse) covariance of codes, one row each: fitted, then refitted
// on the 80% of rows nearest that fit, and scaled so that the median row's
// CodeDistance is 1. The covariance is shrunk (ShrunkCovariance), and its
// eigenvalues floored at the largest / kMaxCodeConditionNumber, so that
// the precision is well-conditioned. Sets of more than
// 100,000 rows are fitted on an evenly strided 100,000. Cancelled once
// *cancel (may be null) is true, polled between fitting steps. REQUIRES: at
// least one row.
absl::StatusOr<v1::CodeGaussian> FitCodeGaussian(const Matrix& codes,
                                                 const std::atomic<bool>* cancel = nullptr);

// Per row: (z - mean)' precision (z - mean) / k, in double, each row alone
// in a fixed order. REQUIRES: codes.cols() == k.
Eigen::VectorXf CodeDistances(const v1::CodeGaussian& g, const Matrix& codes);

// The (linearly interpolated) p-th percentile, p in [0, 100], of `sorted`.
// REQUIRES: sorted ascending and non-empty.
double Percentile(const std::vector<float>& sorted, double p);

// Threshold and quantile table of `scores`. REQUIRES: no NaN (std::sort
// needs an order).
v1::ScoreDistribution DescribeScores(std::vector<float> scores, double threshold_percentile);

// Scores every row of `raw` (in chunks, to bound memory) with every metric,
// fitting the code's Gaussian on the way, and describes the scores.
// FailedPrecondition naming the row when the network gives a row a
// non-finite code or score (weights that overflow), and when the
// calibration does not pass ValidateCalibration. Cancelled once *cancel
// (may be null) is true, polled between chunks and fitting steps.
// REQUIRES: raw has at least one row.
absl::StatusOr<v1::AnomalyCalibration> CalibrateAnomalyScores(
    const StackedAutoencoder& net, const Scaler& scaler, const Matrix& raw,
    double threshold_percentile, const std::atomic<bool>* cancel = nullptr);

// The invariants scoring relies on, for a calibration from a model file or
// from training: threshold_percentile in (0, 100]; every threshold and
// quantile finite, quantiles ascending (PercentileOfScore searches them);
// with code scores, a finite code Gaussian of `code_dim` means and
// code_dim x code_dim precisions, a finite positive mse_scale, and
// code-distance and combined quantiles. InvalidArgument naming the table.
absl::Status ValidateCalibration(const v1::AnomalyCalibration& c, int code_dim);

// Share (0-100) of the training rows whose score is at most `score`,
// interpolated in the quantile table. 0 for an empty table.
double PercentileOfScore(const v1::ScoreDistribution& distribution, float score);

}  // namespace strata

#endif  // STRATA_CORE_SCORING_ANOMALY_H_
