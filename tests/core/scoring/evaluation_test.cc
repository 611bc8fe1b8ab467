#include "core/scoring/evaluation.h"

#include <cmath>
#include <limits>
#include <random>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace strata {
namespace {

TEST(RocAucTest, ByHand) {
  EXPECT_DOUBLE_EQ(RocAuc({0.1, 0.2, 0.8, 0.9}, {0, 0, 1, 1}), 1.0);
  EXPECT_DOUBLE_EQ(RocAuc({0.9, 0.8, 0.2, 0.1}, {0, 0, 1, 1}), 0.0);
  // scikit-learn's example: y = [0, 0, 1, 1], scores [0.1, 0.4, 0.35, 0.8] -> 0.75.
  EXPECT_DOUBLE_EQ(RocAuc({0.1, 0.4, 0.35, 0.8}, {0, 0, 1, 1}), 0.75);
  // Ties count one half: every score equal -> 0.5.
  EXPECT_DOUBLE_EQ(RocAuc({1, 1, 1, 1, 1}, {0, 1, 0, 1, 0}), 0.5);
  // One positive tied with one of two negatives, above the other: (1 + 0.5) / 2.
  EXPECT_DOUBLE_EQ(RocAuc({0.5, 0.5, 0.1}, {1, 0, 0}), 0.75);
  EXPECT_TRUE(std::isnan(RocAuc({0.1, 0.2}, {0, 0})));
}

TEST(AveragePrecisionTest, ByHand) {
  // scikit-learn's example: 0.8333...
  EXPECT_NEAR(AveragePrecision({0.1, 0.4, 0.35, 0.8}, {0, 0, 1, 1}), 5.0 / 6.0, 1e-12);
  EXPECT_DOUBLE_EQ(AveragePrecision({0.9, 0.8, 0.1}, {1, 1, 0}), 1.0);
  // All tied: one threshold, precision = prevalence.
  EXPECT_DOUBLE_EQ(AveragePrecision({1, 1, 1, 1}, {1, 0, 0, 0}), 0.25);
  EXPECT_TRUE(std::isnan(AveragePrecision({0.1, 0.2}, {0, 0})));
}

// A NaN score (a model whose output overflowed) ranks above every other, as
// PercentileOfScore reads it; it used to break std::sort's ordering and
// never leave the loop that groups tied scores (NaN != NaN).
TEST(RocAucTest, NaNScoresRankHighestAndAreTiedWithEachOther) {
  const double nan = std::nan("");
  EXPECT_DOUBLE_EQ(RocAuc({nan, 0.1, 0.2, nan}, {1, 0, 0, 1}), 1.0);
  EXPECT_DOUBLE_EQ(RocAuc({nan, 0.1, 0.2, nan}, {0, 1, 1, 0}), 0.0);
  // Tied NaNs: one positive and one negative among them count one half.
  EXPECT_DOUBLE_EQ(RocAuc({nan, 0.1, nan}, {1, 0, 0}), 0.75);
  EXPECT_DOUBLE_EQ(AveragePrecision({0.9, nan, 0.1}, {0, 1, 0}), 1.0);
  EXPECT_DOUBLE_EQ(AveragePrecision({nan, nan, 0.1, 0.2}, {1, 0, 0, 0}), 0.5);
}

// Three Gaussian blobs in 4-D, `separation` apart.
void Blobs(int n, double separation, Matrix* x, std::vector<int>* y) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  *x = Matrix(n, 4);
  y->resize(n);
  for (int r = 0; r < n; ++r) {
    const int c = r % 3;
    (*y)[r] = c;
    for (int j = 0; j < 4; ++j) (*x)(r, j) = normal(rng) + (j == c ? separation : 0.0f);
  }
}

TEST(LinearProbeTest, SeparatesBlobsAndNotNoise) {
  Matrix x;
  std::vector<int> y;
  Blobs(600, 6.0, &x, &y);
  absl::StatusOr<ProbeResult> easy = LinearProbe(x, y, {});
  ASSERT_TRUE(easy.ok()) << easy.status();
  EXPECT_EQ(easy->classes, 3);
  EXPECT_GT(easy->mean_accuracy, 0.97);
  // Labels unrelated to the features: chance level (1/3) within noise.
  std::vector<int> shuffled = y;
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(9));
  const ProbeResult chance = *LinearProbe(x, shuffled, {});
  EXPECT_NEAR(chance.mean_accuracy, 1.0 / 3, 0.08);
  // Harder blobs land in between.
  Blobs(600, 1.0, &x, &y);
  const ProbeResult hard = *LinearProbe(x, y, {});
  EXPECT_GT(hard.mean_accuracy, 0.5);
  EXPECT_LT(hard.mean_accuracy, easy->mean_accuracy);
}

TEST(LinearProbeTest, BadInputIsInvalidArgument) {
  const Matrix x = Matrix::Zero(10, 2);
  EXPECT_EQ(LinearProbe(x, std::vector<int>(9, 0), {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LinearProbe(x, std::vector<int>(10, 0), {}).status().code(),
            absl::StatusCode::kInvalidArgument);  // one class
  std::vector<int> negative(10, 1);
  negative[4] = -1;
  const absl::Status s = LinearProbe(x, negative, {}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("row 4"), std::string::npos) << s;
}

// The probe sees each training fold through a STANDARD Scaler: features in
// other units (a column in thousands, offset far from zero) probe the same,
// and non-finite features are refused, not learnt as NaN weights.
TEST(LinearProbeTest, StandardisesEachFoldLikeAModelsScaler) {
  Matrix x;
  std::vector<int> y;
  Blobs(600, 1.0, &x, &y);
  Matrix units = x;
  units.col(0) = (x.col(0).array() * 1000.0f + 50000.0f).matrix();
  units.col(2) = (x.col(2).array() * 0.001f - 3.0f).matrix();
  const ProbeResult plain = *LinearProbe(x, y, {});
  const ProbeResult scaled = *LinearProbe(units, y, {});
  EXPECT_NEAR(scaled.mean_accuracy, plain.mean_accuracy, 0.01);

  units(7, 3) = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(LinearProbe(units, y, {}).status().code(), absl::StatusCode::kInvalidArgument);
}

// A classifier's figures worked out by hand: three classes, one row
// unlabelled, one class never predicted.
TEST(EvaluateClassifierTest, ConfusionPrecisionAndRecallByHand) {
  //   truth:      0  0  0  1  1  2  2  -1
  //   predicted:  0  0  1  1  1  1  0   2
  const ClassifierMetrics m =
      EvaluateClassifier({0, 0, 0, 1, 1, 2, 2, -1}, {0, 0, 1, 1, 1, 1, 0, 2}, 3);
  EXPECT_EQ(m.classes, 3);
  EXPECT_EQ(m.rows, 7);  // the unlabelled row left out
  // Rows: the true class; columns: the predicted one.
  EXPECT_THAT(m.confusion, ::testing::ElementsAre(2, 1, 0,  //
                                                  0, 2, 0,  //
                                                  1, 1, 0));
  EXPECT_DOUBLE_EQ(m.accuracy, 4.0 / 7.0);
  // Predicted 0: 3 rows, 2 right; predicted 1: 4 rows, 2 right; 2: never.
  EXPECT_DOUBLE_EQ(m.precision[0], 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(m.precision[1], 0.5);
  EXPECT_TRUE(std::isnan(m.precision[2]));
  // True 0: 3 rows, 2 found; true 1: 2 of 2; true 2: 0 of 2.
  EXPECT_DOUBLE_EQ(m.recall[0], 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(m.recall[1], 1.0);
  EXPECT_DOUBLE_EQ(m.recall[2], 0.0);
}

TEST(EvaluateClassifierTest, AStoredConfusionMatrixGivesTheSameFigures) {
  const ClassifierMetrics rows = EvaluateClassifier({1, 0, 1, 1}, {1, 0, 0, 1}, 2);
  const ClassifierMetrics stored = MetricsFromConfusion({1, 0, 1, 2}, 2);
  EXPECT_EQ(rows.confusion, stored.confusion);
  EXPECT_EQ(stored.rows, 4);
  EXPECT_DOUBLE_EQ(stored.accuracy, 0.75);
  EXPECT_DOUBLE_EQ(stored.precision[0], 0.5);
  EXPECT_DOUBLE_EQ(stored.recall[1], 2.0 / 3.0);
  // Nothing compared: no accuracy to speak of.
  EXPECT_TRUE(std::isnan(EvaluateClassifier({-1}, {0}, 2).accuracy));
}

}  // namespace
}  // namespace strata
