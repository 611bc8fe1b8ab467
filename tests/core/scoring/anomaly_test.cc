#include "core/scoring/anomaly.h"

#include <algorithm>
#include <cmath>

#include "core/train/trainer.h"
#include "gtest/gtest.h"
#include "tests/testing/synthetic_data.h"

namespace strata {
namespace {

TEST(AnomalyTest, PercentileInterpolatesLikeNumpy) {
  const std::vector<float> v = {1, 2, 3, 4, 5};
  EXPECT_DOUBLE_EQ(Percentile(v, 0), 1);
  EXPECT_DOUBLE_EQ(Percentile(v, 50), 3);
  EXPECT_DOUBLE_EQ(Percentile(v, 100), 5);
  EXPECT_DOUBLE_EQ(Percentile(v, 90), 4.6);  // numpy.percentile([1..5], 90)
  EXPECT_DOUBLE_EQ(Percentile({7}, 99), 7);
}

TEST(AnomalyTest, DescribeScoresAndPercentileOfScoreAgree) {
  std::vector<float> scores;
  for (int i = 0; i <= 10000; ++i) scores.push_back(static_cast<float>(i));
  std::swap(scores[3], scores[9000]);  // order does not matter
  const v1::ScoreDistribution d = DescribeScores(scores, 99.0);
  EXPECT_FLOAT_EQ(d.threshold(), 9900.0f);
  ASSERT_EQ(d.quantiles_size(), 1001);
  EXPECT_EQ(d.quantiles(0), 0.0f);
  EXPECT_EQ(d.quantiles(1000), 10000.0f);
  EXPECT_NEAR(PercentileOfScore(d, 2500.0f), 25.0, 1e-6);
  EXPECT_NEAR(PercentileOfScore(d, 2505.0f), 25.05, 1e-6);
  EXPECT_EQ(PercentileOfScore(d, -1.0f), 0.0);
  EXPECT_EQ(PercentileOfScore(d, 1e9f), 100.0);
  EXPECT_EQ(PercentileOfScore(v1::ScoreDistribution(), 1.0f), 0.0);
  // Few rows: one quantile per row.
  EXPECT_EQ(DescribeScores({3, 1, 2}, 50).quantiles_size(), 3);
}

// A table ending in NaN sent the search to its end and the interpolation
// one past it (ASan reports the read: four entries fill the table's first
// allocation exactly); any table now stays inside it, and
// ValidateCalibration keeps such tables out of models.
TEST(AnomalyTest, PercentileOfScoreStaysInsideAnyTable) {
  v1::ScoreDistribution d;
  for (float q : {0.0f, 1.0f, std::nanf(""), std::nanf("")}) d.add_quantiles(q);
  for (float score : {-1.0f, 0.5f, 5.0f, 1e30f}) {
    const double p = PercentileOfScore(d, score);
    EXPECT_TRUE(p >= 0 && p <= 100) << score << " -> " << p;
  }
  EXPECT_FALSE(ValidateCalibration([&] {
                 v1::AnomalyCalibration c;
                 c.set_threshold_percentile(99);
                 *c.mutable_mean_squared() = d;
                 return c;
               }(),
                                   2)
                   .ok());
}

TEST(AnomalyTest, TrainedModelFlagsOutliersAboveItsThreshold) {
  const Matrix data = testing::ManifoldData(2000, 8, 2, 17);
  Trainer::Options options;
  options.input_dim = 8;
  options.config.add_encoder_widths(6);
  options.config.add_encoder_widths(2);
  options.config.set_finetune_epochs(40);
  options.config.mutable_anomaly()->set_contamination(0.02);
  auto model = (*Trainer::Create(options))->Train(data);
  ASSERT_TRUE(model.ok()) << model.status();
  const v1::AnomalyCalibration& c = (*model)->info().calibration;
  EXPECT_DOUBLE_EQ(c.threshold_percentile(), 98.0);
  ASSERT_EQ(c.mean_squared().quantiles_size(), 1001);

  // About 2% of the training rows score above the threshold...
  auto errors = (*model)->FeatureErrors(data, ScoreMetric::kMeanSquared);
  ASSERT_TRUE(errors.ok());
  const Eigen::VectorXf scores = errors->rowwise().mean();
  const double above = (scores.array() > c.mean_squared().threshold()).cast<double>().mean();
  EXPECT_NEAR(above, 0.02, 0.002);
  // ...and rows off the manifold score far above it.
  const Matrix outliers = testing::GaussianMatrix(50, 8, 99, 3.0);
  auto outlier_errors = (*model)->FeatureErrors(outliers, ScoreMetric::kMeanAbsolute);
  const Eigen::VectorXf outlier_scores = outlier_errors->rowwise().mean();
  const double flagged =
      (outlier_scores.array() > c.mean_absolute().threshold()).cast<double>().mean();
  EXPECT_GT(flagged, 0.9);
  EXPECT_GT(PercentileOfScore(c.mean_absolute(), outlier_scores.maxCoeff()), 99.0);
}

TEST(AnomalyTest, CalibrationStopsWhenCancelled) {
  const Matrix data = testing::ManifoldData(500, 6, 2, 18);
  Trainer::Options options;
  options.input_dim = 6;
  options.config.set_finetune_epochs(1);
  auto model = (*Trainer::Create(options))->Train(data);
  ASSERT_TRUE(model.ok()) << model.status();
  const StackedAutoencoder& net = (*model)->autoencoder();
  const Scaler& scaler = (*model)->scaler();
  std::atomic<bool> cancel{false};
  EXPECT_TRUE(CalibrateAnomalyScores(net, scaler, data, 99, &cancel).ok());
  cancel = true;
  const auto cancelled = CalibrateAnomalyScores(net, scaler, data, 99, &cancel);
  EXPECT_EQ(cancelled.status().code(), absl::StatusCode::kCancelled) << cancelled.status();
  Matrix codes;
  net.Reconstruct(scaler.Transform(data), &codes);
  EXPECT_EQ(FitCodeGaussian(codes, &cancel).status().code(), absl::StatusCode::kCancelled);
}

TEST(AnomalyTest, CodeDistanceIsMahalanobisPerCodeUnit) {
  // Two independent units with standard deviations 1 and 10, and a constant
  // third one.
  Matrix codes = testing::GaussianMatrix(20000, 3, 5);
  codes.col(1) *= 10;
  codes.col(2).setConstant(4);
  const v1::CodeGaussian g = FitCodeGaussian(codes).value();
  ASSERT_EQ(g.mean_size(), 3);
  ASSERT_EQ(g.precision_size(), 9);
  EXPECT_NEAR(g.precision(0) / g.precision(4), 100.0, 3.0);  // variance ratio
  EXPECT_NEAR(g.precision(1) / g.precision(0), 0.0, 0.02);
  // The median training row is at distance 1.
  Eigen::VectorXf d = CodeDistances(g, codes);
  std::nth_element(d.data(), d.data() + d.size() / 2, d.data() + d.size());
  EXPECT_NEAR(d(d.size() / 2), 1.0, 1e-4);
  // 2 standard deviations out on either unit: 2^2 over the median of a
  // chi-squared with 2 degrees of freedom (2 ln 2), since the constant unit
  // never varies.
  Matrix probe(3, 3);
  probe << g.mean(0) + 2, g.mean(1), 4,  // 2 sd on the first unit
      g.mean(0), g.mean(1) + 20, 4,      // 2 sd on the second
      g.mean(0), g.mean(1), 4.5;         // off the constant unit: far, finite
  const Eigen::VectorXf p = CodeDistances(g, probe);
  EXPECT_NEAR(p(0), 4 / (2 * std::log(2.0)), 0.1);
  EXPECT_NEAR(p(1), 4 / (2 * std::log(2.0)), 0.1);
  EXPECT_TRUE(std::isfinite(p(2)));
  // The constant unit's variance is floored at the largest (100) /
  // kMaxCodeConditionNumber (1e4): 0.01, so 0.5 off it is 5 of its floored
  // standard deviations, 25 / 4 times a 2-sd move on another unit.
  EXPECT_NEAR(p(2) / p(1), 25.0 / 4, 0.3);
}

TEST(AnomalyTest, CodeGaussianIsNotPulledByAnomaliesInTheTrainingRows) {
  // 10% of the rows sit 20 standard deviations out on the first unit: a
  // plain fit would put the mean at 2 and the first unit's variance near 37.
  Matrix codes = testing::GaussianMatrix(10000, 2, 6);
  codes.topRows(1000).col(0).array() += 20;
  const v1::CodeGaussian g = FitCodeGaussian(codes).value();
  EXPECT_NEAR(g.mean(0), 0.0, 0.1);
  EXPECT_NEAR(g.precision(0) / g.precision(3), 1.0, 0.2);  // both units alike
  const Eigen::VectorXf d = CodeDistances(g, codes);
  EXPECT_GT(d.head(1000).minCoeff(), 20 * d.tail(9000).maxCoeff() / 10);
}

TEST(AnomalyTest, LargeCodeSetsAreFittedOnAStridedSample) {
  // 250,000 rows: fitted on every third one, and still a fit of all of them.
  Matrix codes = testing::GaussianMatrix(250000, 2, 8);
  codes.col(0).array() = codes.col(0).array() * 3 + 5;
  const v1::CodeGaussian g = FitCodeGaussian(codes).value();
  EXPECT_NEAR(g.mean(0), 5.0, 0.05);
  EXPECT_NEAR(g.precision(3) / g.precision(0), 9.0, 0.3);
  std::vector<float> d(250000);
  Eigen::Map<Eigen::VectorXf>(d.data(), 250000) = CodeDistances(g, codes);
  std::sort(d.begin(), d.end());
  EXPECT_NEAR(Percentile(d, 50), 1.0, 0.02);
}

TEST(AnomalyTest, CombinedScoreCatchesRowsReconstructedWellButFarFromTheTrainingCodes) {
  // Rows on a 2-D plane in 8-D, and a linear autoencoder with a 2-unit code:
  // it reconstructs any row on the plane, however far out.
  const Matrix z = testing::GaussianMatrix(3000, 2, 31);
  const Matrix a = testing::GaussianMatrix(2, 8, 32);
  const Matrix data = z * a + testing::GaussianMatrix(3000, 8, 33, 0.05);
  Trainer::Options options;
  options.input_dim = 8;
  options.config.add_encoder_widths(2);
  options.config.set_finetune_epochs(100);
  auto model = (*Trainer::Create(options))->Train(data);
  ASSERT_TRUE(model.ok()) << model.status();
  const v1::AnomalyCalibration& c = (*model)->info().calibration;
  // The default is the ensemble score (ensemble_score_test.cc); COMBINED
  // stays on request.
  EXPECT_EQ((*model)->default_metric(), ScoreMetric::kEnsemble);

  // Training rows: each metric flags about 1% (threshold percentile 99), and
  // the combined score is its two terms.
  Matrix code;
  auto scored = (*model)->Score(data, ScoreMetric::kCombined, &code);
  ASSERT_TRUE(scored.ok()) << scored.status();
  ASSERT_EQ(scored->cols(), 9);
  const Eigen::VectorXf combined = scored->col(8);
  const Eigen::VectorXf mse = scored->leftCols(8).rowwise().mean();
  const Eigen::VectorXf distance = CodeDistances(c.code(), code);
  std::vector<float> sorted(distance.data(), distance.data() + distance.size());
  std::sort(sorted.begin(), sorted.end());
  // FitCodeGaussian scales the row at n / 2 of the sorted distances (the
  // upper median) to 1; the precision's float storage moves it by ~1e-7.
  EXPECT_NEAR(sorted[sorted.size() / 2], 1.0, 1e-5);
  for (Eigen::Index r = 0; r < 3000; r += 97) {
    EXPECT_NEAR(combined(r), distance(r) + mse(r) / c.mse_scale(), 1e-4 * combined(r));
  }
  EXPECT_NEAR((combined.array() > c.combined().threshold()).cast<double>().mean(), 0.01, 0.002);
  EXPECT_NEAR((distance.array() > c.code_distance().threshold()).cast<double>().mean(), 0.01,
              0.002);

  // Rows 6 standard deviations out along the plane: reconstruction error
  // barely notices them, the code distance and so the combined score do.
  const Matrix far_z = testing::GaussianMatrix(200, 2, 34).rowwise().normalized() * 6.0f;
  const Matrix far = far_z * a + testing::GaussianMatrix(200, 8, 35, 0.05);
  auto far_mse = (*model)->Score(far, ScoreMetric::kMeanSquared);
  auto far_combined = (*model)->Score(far, ScoreMetric::kCombined);
  ASSERT_TRUE(far_mse.ok() && far_combined.ok());
  const double mse_flagged =
      (far_mse->col(8).array() > c.mean_squared().threshold()).cast<double>().mean();
  const double combined_flagged =
      (far_combined->col(8).array() > c.combined().threshold()).cast<double>().mean();
  EXPECT_LT(mse_flagged, 0.1);  // 0.02 when written
  EXPECT_GT(combined_flagged, 0.95);
}

}  // namespace
}  // namespace strata
