#include "core/analysis/pca.h"

#include <random>

#include "gtest/gtest.h"

namespace strata {
namespace {

// Rows on a plane in 3-D: x = 3a + 1, y = b - 2, z = x + y; a has variance
// 9 times b's.
Matrix PlaneRows(int n) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  Matrix x(n, 3);
  for (int r = 0; r < n; ++r) {
    const float a = 3 * normal(rng), b = normal(rng);
    x.row(r) << a + 1, b - 2, a + b - 1;
  }
  return x;
}

TEST(PcaTest, TwoComponentsReconstructAPlaneExactly) {
  const Matrix x = PlaneRows(2000);
  absl::StatusOr<Pca> pca = FitPca(x, 2);
  ASSERT_TRUE(pca.ok()) << pca.status();
  EXPECT_NEAR(pca->mean(0), 1, 0.2);
  EXPECT_NEAR(pca->mean(1), -2, 0.1);
  // Orthonormal components, variance in decreasing order, summing to the
  // total (the third direction has none).
  const Matrix gram = pca->components * pca->components.transpose();
  EXPECT_TRUE(gram.isApprox(Matrix::Identity(2, 2), 1e-5));
  EXPECT_GT(pca->variance(0), pca->variance(1));
  EXPECT_NEAR(pca->variance.sum(), pca->total_variance, 1e-3 * pca->total_variance);
  EXPECT_LT((pca->Reconstruct(x) - x).cwiseAbs().maxCoeff(), 1e-3);
  // The first component lies along (1, 0, 1) (a's direction), up to sign.
  EXPECT_NEAR(std::abs(pca->components(0, 0)), std::abs(pca->components(0, 2)), 0.1);
}

TEST(PcaTest, OneComponentLosesTheSmallerDirection) {
  const Matrix x = PlaneRows(2000);
  const Pca pca = *FitPca(x, 1);
  const Matrix projected = pca.Project(x);
  ASSERT_EQ(projected.cols(), 1);
  // What is left is the second direction's variance (about 2 * 1 on the
  // plane: b moves y and z).
  const double lost = (pca.Reconstruct(x) - x).rowwise().squaredNorm().mean();
  EXPECT_NEAR(lost, pca.total_variance - pca.variance(0), 0.05 * lost);
  EXPECT_GT(lost, 0.5);
}

TEST(PcaTest, BadShapesAreInvalidArgument) {
  EXPECT_EQ(FitPca(Matrix::Zero(1, 3), 1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FitPca(Matrix::Zero(5, 3), 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FitPca(Matrix::Zero(5, 3), 4).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace strata
