#include "core/anomaly.h"

#include "core/trainer.h"
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

}  // namespace
}  // namespace strata
