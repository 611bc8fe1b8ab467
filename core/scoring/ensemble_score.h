// The ensemble score: the default anomaly score of models trained with it.
//
// A row's score adds up terms that fail on different data, each put on the
// same footing as log1p(term / its training median):
// - for each of k networks trained on the same rows with different seeds
//   (the model's own and the ensemble's others), the code distance (robust
//   Mahalanobis, anomaly.h) and the code spread (squared Euclidean distance
//   from the codes' centre, which does not whiten away the directions the
//   training codes barely use; measured from the plain mean of the
//   training codes, not the robust centre of the code distance, which sits
//   inside the densest mode and makes a large minority look far),
//   averaged over the networks;
// - the feature-tail term (ECOD, Li et al. 2022): per feature, the share of
//   training values at least as extreme, summed as -log over features,
//   taking the larger of the left-tail, right-tail and skew-chosen sums.
// Averaging networks removes most of what one seed's code geometry gets
// wrong; the tail term catches a value beyond what any feature took in
// training, which a network may reconstruct well and place near the
// others. bench/README.md ("Issue 16") has the measurements behind it.
//
// Models trained since issue 33 also hold an isolation forest
// (isolation_forest.h) over the scaled training rows. Their score averages
// the sum above and the forest's score, each standardised by its mean and
// deviation on the training rows (model.proto's EnsembleCalibration): on
// the 19-set panel the forest is right where the networks are not
// (bench/README.md, "Issue 33").
//
//   v1::EnsembleCalibration e = *CalibrateEnsemble(nets, scaler, train_raw, code, 99.0);
//   FeatureTailIndex tails = *FeatureTailIndex::Create(e.tails(), input_dim);
//   Eigen::VectorXf scores = EnsembleScores(e, tails, member_codes, scaler.Transform(batch));
#ifndef STRATA_CORE_SCORING_ENSEMBLE_SCORE_H_
#define STRATA_CORE_SCORING_ENSEMBLE_SCORE_H_

#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/data/scaler.h"
#include "core/nn/matrix.h"
#include "core/nn/stacked_autoencoder.h"
#include "strata/v1/model.pb.h"

namespace strata {

// Most knots kept per feature.
inline constexpr int kMaxTailKnots = 1024;

// Per column of `scaled`: min(rows, kMaxTailKnots) evenly spaced order
// statistics and whether its skewness is negative. REQUIRES: at least one
// row, finite values.
v1::FeatureTails FitFeatureTails(const Matrix& scaled);

// Feature tails laid out for counting, built once per model: each
// feature's knots padded with +inf to whole 32-knot blocks, and each
// block's last knot, so that a value's counts are two fixed-width passes
// (over the block ends, then within one block) with no setup per call.
class FeatureTailIndex {
 public:
  // No features: the index of a model without the ensemble score.
  FeatureTailIndex() = default;

  // InvalidArgument as ValidateFeatureTails(t, input_dim).
  static absl::StatusOr<FeatureTailIndex> Create(const v1::FeatureTails& t, int input_dim);

  int features() const { return features_; }

  // Per row of scaled values: max(sum_j -log L_j, sum_j -log R_j,
  // sum_j -log A_j), where with K knots, L_j = (knots <= x_j, + 1) / (K + 1),
  // R_j = (knots >= x_j, + 1) / (K + 1), and A_j is L_j for a left-skewed
  // feature, else R_j. REQUIRES: scaled.cols() == features().
  Eigen::VectorXf Scores(const Matrix& scaled) const;

 private:
  int features_ = 0;
  int knots_ = 0;   // K, per feature
  int blocks_ = 0;  // ceil(K / 32)
  std::vector<float> knots_padded_;  // features x blocks_ * 32
  std::vector<float> block_ends_;    // features x 32, +inf past blocks_
  std::vector<uint8_t> left_skewed_;
};

// Per row: |z - centre|^2 / k for a k-unit code z. REQUIRES: codes.cols() ==
// centre.size().
Eigen::VectorXf CodeSpreads(absl::Span<const float> centre, const Matrix& codes);

// Network m's spread centre in `e`: spread_centres' m-th k values, or for a
// calibration from before them, codes[m].mean. REQUIRES: e passing
// ValidateEnsembleCalibration.
absl::Span<const float> SpreadCentre(const v1::EnsembleCalibration& e, int m);

// Whether `e` holds an isolation forest (calibrations since issue 33).
bool HasIsolationForest(const v1::EnsembleCalibration& e);

// Per row: the ensemble score (model.proto's EnsembleCalibration), from
// each network's codes of the rows and the rows' scaled values.
// REQUIRES: codes.size() == e.codes_size(), every matrix of the same rows,
// e passing ValidateEnsembleCalibration and `tails` built from e.tails().
Eigen::VectorXf EnsembleScores(const v1::EnsembleCalibration& e, const FeatureTailIndex& tails,
                               absl::Span<const Matrix> codes, const Matrix& scaled);

// Fits every network's code Gaussian (net 0 keeps `first_code`, the
// calibration's own), the spreads' and tails' medians, the isolation forest
// (grown with `forest_seed`), the two families' training means and
// deviations and the score table on the training rows `raw`, in chunks.
// FailedPrecondition naming the row for a non-finite code; Cancelled once
// *cancel (may be null) is true. REQUIRES: nets non-empty, all of the
// scaler's width; raw non-empty.
absl::StatusOr<v1::EnsembleCalibration> CalibrateEnsemble(
    absl::Span<const StackedAutoencoder* const> nets, const Scaler& scaler, const Matrix& raw,
    const v1::CodeGaussian& first_code, double threshold_percentile, uint64_t forest_seed,
    const std::atomic<bool>* cancel = nullptr);

// What scoring relies on: knots_per_feature in [1, kMaxTailKnots],
// input_dim ascending finite knot rows and input_dim skew flags.
// InvalidArgument naming what is wrong.
absl::Status ValidateFeatureTails(const v1::FeatureTails& t, int input_dim);

// The ensemble calibration of a model with `networks` networks: one finite
// code Gaussian of code_dim means and code_dim^2 precisions, one finite
// positive spread scale per network, networks x code_dim finite spread
// centres or none, valid tails, a finite positive tail scale, no forest or
// one passing ValidateIsolationForest with finite means and positive finite
// deviations, a finite ascending score table. InvalidArgument naming what
// is wrong.
absl::Status ValidateEnsembleCalibration(const v1::EnsembleCalibration& e, int networks,
                                         int input_dim, int code_dim);

}  // namespace strata

#endif  // STRATA_CORE_SCORING_ENSEMBLE_SCORE_H_
