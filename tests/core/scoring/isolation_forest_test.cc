#include "core/scoring/isolation_forest.h"

#include <cmath>
#include <random>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace strata {
namespace {

using ::testing::HasSubstr;

TEST(IsolationForestTest, AveragePathLengthIsTheUnsuccessfulSearchLengthByHand) {
  EXPECT_EQ(AveragePathLength(1), 0);
  EXPECT_EQ(AveragePathLength(2), 1);
  // 2 H(2) - 2 * 2/3 = 2 * 1.5 - 4/3.
  EXPECT_DOUBLE_EQ(AveragePathLength(3), 3 - 4.0 / 3);
  // 2 H(3) - 2 * 3/4 = 2 * 11/6 - 1.5.
  EXPECT_DOUBLE_EQ(AveragePathLength(4), 11.0 / 3 - 1.5);
  // Past the exact sums the asymptotic harmonic number takes over; the two
  // agree to 1e-9 there (its error term is O(1/m^4)).
  double h = 0;
  for (int i = 1; i <= 257; ++i) h += 1.0 / i;
  EXPECT_NEAR(AveragePathLength(258), 2 * h - 2 * 257.0 / 258, 1e-9);
}

// One tree on a sample of 4: x0 < 0.5 is a leaf of one row; otherwise
// x1 < 0 is a leaf of two rows, else a leaf of one.
v1::IsolationForest HandForest() {
  v1::IsolationForest f;
  f.set_sample_size(4);
  f.add_tree_starts(0);
  const auto node = [&](int feature, float threshold, int right) {
    f.add_feature(feature);
    f.add_threshold(threshold);
    f.add_right(right);
  };
  node(0, 0.5f, 2);  // 0: root
  node(-1, 0, 1);    // 1: leaf of 1
  node(1, 0, 4);     // 2
  node(-1, 0, 2);    // 3: leaf of 2
  node(-1, 0, 1);    // 4: leaf of 1
  return f;
}

TEST(IsolationForestTest, ScoresAreTwoToTheMinusPathLengthOverCByHand) {
  const v1::IsolationForest f = HandForest();
  ASSERT_TRUE(ValidateIsolationForest(f, 2).ok());
  Matrix x(3, 2);
  x << 0, 0,   // left at the root: depth 1, leaf of 1 adds c(1) = 0
      1, -1,   // right, left: depth 2, leaf of 2 adds c(2) = 1
      1, 1;    // right, right: depth 2
  const double c4 = 11.0 / 3 - 1.5;
  const Eigen::VectorXf s = IsolationScores(f, x);
  EXPECT_FLOAT_EQ(s(0), static_cast<float>(std::exp2(-1 / c4)));
  EXPECT_FLOAT_EQ(s(1), static_cast<float>(std::exp2(-3 / c4)));
  EXPECT_FLOAT_EQ(s(2), static_cast<float>(std::exp2(-2 / c4)));
  // A value equal to the threshold goes right.
  Matrix edge(1, 2);
  edge << 0.5f, 1;
  EXPECT_FLOAT_EQ(IsolationScores(f, edge)(0), s(2));
}

Matrix Blob(int rows, int cols, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal;
  Matrix x(rows, cols);
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) x(r, c) = normal(rng);
  }
  return x;
}

TEST(IsolationForestTest, FitGrowsAValidForestThatIsolatesAFarRowFirst) {
  const Matrix x = Blob(1000, 3, 7);
  const v1::IsolationForest f = *FitIsolationForest(x, 42);
  ASSERT_TRUE(ValidateIsolationForest(f, 3).ok());
  EXPECT_EQ(f.sample_size(), kForestSampleSize);
  EXPECT_EQ(f.tree_starts_size(), kForestTrees);
  // A tree on 256 rows stops at depth 8: at most 511 nodes.
  EXPECT_LE(f.feature_size(), kForestTrees * (2 * kForestSampleSize - 1));
  const Eigen::VectorXf train = IsolationScores(f, x);
  Matrix far(1, 3);
  far << 8, -8, 8;
  const float outlier = IsolationScores(f, far)(0);
  EXPECT_GT(outlier, train.maxCoeff());
  // The median training row sits near 0.5 (the paper: rows that are not
  // anomalies score well below 0.5 ... 0.5), the far one near 1.
  std::vector<float> sorted(train.data(), train.data() + train.size());
  std::sort(sorted.begin(), sorted.end());
  EXPECT_LT(sorted[500], 0.5f);
  EXPECT_GT(outlier, 0.7f);
}

TEST(IsolationForestTest, TheSameRowsAndSeedGrowTheSameForestAndScoresAreRowByRow) {
  const Matrix x = Blob(600, 4, 3);
  const v1::IsolationForest a = *FitIsolationForest(x, 9);
  const v1::IsolationForest b = *FitIsolationForest(x, 9);
  EXPECT_EQ(a.SerializeAsString(), b.SerializeAsString());
  EXPECT_NE(a.SerializeAsString(), FitIsolationForest(x, 10)->SerializeAsString());
  // Each row's score is the same bits alone as in a batch.
  const Eigen::VectorXf all = IsolationScores(a, x);
  for (int r : {0, 17, 599}) {
    const Matrix one = x.row(r);
    EXPECT_EQ(IsolationScores(a, one)(0), all(r)) << "row " << r;
  }
}

TEST(IsolationForestTest, SmallAndConstantDataGrowLeaves) {
  // Fewer rows than the sample: psi is the row count.
  const v1::IsolationForest few = *FitIsolationForest(Blob(10, 2, 1), 1);
  EXPECT_EQ(few.sample_size(), 10);
  EXPECT_TRUE(ValidateIsolationForest(few, 2).ok());
  // One row, or rows all equal: every tree is one leaf, every score 1
  // (nothing is ever isolated by a split).
  const v1::IsolationForest one = *FitIsolationForest(Matrix::Constant(1, 2, 3), 1);
  EXPECT_TRUE(ValidateIsolationForest(one, 2).ok());
  EXPECT_EQ(one.feature_size(), kForestTrees);
  EXPECT_FLOAT_EQ(IsolationScores(one, Matrix::Constant(1, 2, 0))(0), 1.0f);
  const v1::IsolationForest same = *FitIsolationForest(Matrix::Constant(50, 2, 3), 1);
  EXPECT_EQ(same.feature_size(), kForestTrees);
  EXPECT_TRUE(ValidateIsolationForest(same, 2).ok());
}

TEST(IsolationForestTest, FitStopsWhenCancelled) {
  std::atomic<bool> cancel{true};
  EXPECT_EQ(FitIsolationForest(Blob(20, 2, 1), 1, &cancel).status().code(),
            absl::StatusCode::kCancelled);
}

TEST(IsolationForestTest, ValidationNamesTheTreeAndNode) {
  const auto message = [](const v1::IsolationForest& f, int input_dim = 2) {
    const absl::Status s = ValidateIsolationForest(f, input_dim);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    return std::string(s.message());
  };
  v1::IsolationForest f = HandForest();
  EXPECT_THAT(message(f, 1), HasSubstr("tree 1 node 2 splits feature 1"));
  f.set_sample_size(0);
  EXPECT_THAT(message(f), HasSubstr("sample size 0"));
  f = HandForest();
  f.set_sample_size(kForestSampleSize + 1);
  EXPECT_THAT(message(f), HasSubstr("sample size 257"));
  f = HandForest();
  f.clear_tree_starts();
  EXPECT_THAT(message(f), HasSubstr("0 trees"));
  f = HandForest();
  f.add_threshold(0);
  EXPECT_THAT(message(f), HasSubstr("6 thresholds"));
  f = HandForest();
  f.set_threshold(2, std::nanf(""));
  EXPECT_THAT(message(f), HasSubstr("tree 1 node 2 splits feature 1 at nan"));
  f = HandForest();
  f.set_feature(0, -2);
  EXPECT_THAT(message(f), HasSubstr("node 0 splits feature -2"));
  f = HandForest();
  f.set_right(0, 3);  // into the right subtree's left leaf
  EXPECT_THAT(message(f), HasSubstr("node 0 has its right child at 3, not after its left subtree (2)"));
  f = HandForest();
  f.set_right(3, 5);  // a leaf of more rows than the sample
  EXPECT_THAT(message(f), HasSubstr("node 3 is a leaf of 5 rows; it needs 1 to 4"));
  f = HandForest();
  f.set_right(4, 0);
  EXPECT_THAT(message(f), HasSubstr("node 4 is a leaf of 0 rows"));
  f = HandForest();
  f.set_feature(4, 0);  // the last node splits, with no children left in the tree
  EXPECT_THAT(message(f), HasSubstr("node 5 lies outside its tree (which ends at 5)"));
  // Two trees: the first must end where the second starts.
  f = HandForest();
  f.add_tree_starts(3);
  EXPECT_THAT(message(f), HasSubstr("tree 1 node 3 lies outside its tree"));
  f = HandForest();
  f.add_tree_starts(5);
  EXPECT_THAT(message(f), HasSubstr("tree 2 starts at node 5 and ends at 5"));
  f = HandForest();
  f.add_feature(-1);
  f.add_threshold(0);
  f.add_right(1);
  EXPECT_THAT(message(f), HasSubstr("tree 1 ends at node 5 but its range runs to node 6"));
  // A chain deeper than 64 splits.
  v1::IsolationForest deep;
  deep.set_sample_size(2);
  deep.add_tree_starts(0);
  for (int i = 0; i < 70; ++i) {
    deep.add_feature(0);
    deep.add_threshold(0);
    deep.add_right(0);  // never reached: the depth check fires first
  }
  deep.add_feature(-1);
  deep.add_threshold(0);
  deep.add_right(1);
  EXPECT_THAT(message(deep), HasSubstr("is deeper than 64"));
}

}  // namespace
}  // namespace strata
