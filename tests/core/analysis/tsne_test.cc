#include "core/analysis/tsne.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/synthetic_data.h"

namespace strata {
namespace {

using ::testing::HasSubstr;

// Each point's nearest other point in `m`.
std::vector<int> NearestNeighbours(const Matrix& m) {
  std::vector<int> nearest(m.rows());
  for (Eigen::Index i = 0; i < m.rows(); ++i) {
    float best = std::numeric_limits<float>::infinity();
    for (Eigen::Index j = 0; j < m.rows(); ++j) {
      const float d = (m.row(i) - m.row(j)).squaredNorm();
      if (j != i && d < best) best = d, nearest[i] = static_cast<int>(j);
    }
  }
  return nearest;
}

// Separated clusters stay separated: four blobs in 10 dimensions map to a
// picture whose neighbourhoods are the blobs' (trustworthiness > 0.9), and
// a point's nearest neighbour on the map is of its own blob.
TEST(TsneTest, SeparatedBlobsStaySeparatedAndTheMapIsTrustworthy) {
  const testing::Blobs blobs = testing::GaussianBlobs(400, 10, 4, 3, 0.3);
  const absl::StatusOr<TsneResult> map = Tsne(blobs.rows, TsneOptions());
  ASSERT_TRUE(map.ok()) << map.status();
  ASSERT_EQ(map->embedding.rows(), 400);
  ASSERT_EQ(map->embedding.cols(), 2);
  EXPECT_EQ(map->perplexity, 30);
  EXPECT_GT(map->kl_divergence, 0);
  const absl::StatusOr<double> t = Trustworthiness(blobs.rows, map->embedding, 10);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_GT(*t, 0.9);
  const std::vector<int> nearest = NearestNeighbours(map->embedding);
  int same = 0;
  for (int i = 0; i < 400; ++i) same += blobs.classes[nearest[i]] == blobs.classes[i];
  EXPECT_GE(same, 396);
  // The blobs are apart on the map: each blob's centre is farther from the
  // others' than its points' mean distance from it.
  Matrix centres = Matrix::Zero(4, 2);
  for (int i = 0; i < 400; ++i) centres.row(blobs.classes[i]) += map->embedding.row(i) / 100.0f;
  double spread = 0;
  for (int i = 0; i < 400; ++i) {
    spread += (map->embedding.row(i) - centres.row(blobs.classes[i])).norm() / 400;
  }
  for (int a = 0; a < 4; ++a) {
    for (int b = a + 1; b < 4; ++b) EXPECT_GT((centres.row(a) - centres.row(b)).norm(), 2 * spread);
  }
  // The optimisation did the work, not the start on the principal
  // components: the map's divergence from the data's neighbourhoods is far
  // below that of the start.
  TsneOptions start;
  start.iterations = 1;
  EXPECT_LT(map->kl_divergence, Tsne(blobs.rows, start)->kl_divergence / 2);
  // The same data and options draw the same map.
  EXPECT_EQ(Tsne(blobs.rows, TsneOptions())->embedding, map->embedding);
}

TEST(TsneTest, TrustworthinessIsOneForTheDataItselfAndLowForARandomMap) {
  const Matrix points = testing::GaussianMatrix(200, 2, 5);
  EXPECT_DOUBLE_EQ(*Trustworthiness(points, points, 10), 1.0);
  const Matrix random = testing::GaussianMatrix(200, 2, 6);
  const double t = *Trustworthiness(points, random, 10);
  EXPECT_GT(t, 0.3);
  EXPECT_LT(t, 0.7);
  EXPECT_THAT(Trustworthiness(points, random, 100).status().message(),
              HasSubstr("1 <= k < rows / 2"));
  EXPECT_FALSE(Trustworthiness(points, random.topRows(10), 3).ok());
}

TEST(TsneTest, FewPointsLowerThePerplexityAndBadInputIsRefused) {
  const Matrix points = testing::GaussianMatrix(31, 1, 7);  // one-dimensional
  const absl::StatusOr<TsneResult> map = Tsne(points, TsneOptions());
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_EQ(map->perplexity, 10);
  EXPECT_TRUE(map->embedding.allFinite());
  // Codes that barely vary still map faithfully: each coordinate starts at
  // the same small scale, whatever the points' own.
  const Matrix tiny = points * 1e-6f;
  const absl::StatusOr<TsneResult> tiny_map = Tsne(tiny, TsneOptions());
  ASSERT_TRUE(tiny_map.ok()) << tiny_map.status();
  EXPECT_GT(*Trustworthiness(tiny, tiny_map->embedding, 5), 0.9);
  EXPECT_THAT(Tsne(points.topRows(3), TsneOptions()).status().message(),
              HasSubstr("at least 4 points"));
  Matrix bad = points;
  bad(4, 0) = std::numeric_limits<float>::quiet_NaN();
  EXPECT_FALSE(Tsne(bad, TsneOptions()).ok());
  TsneOptions zero;
  zero.iterations = 0;
  EXPECT_FALSE(Tsne(points, zero).ok());
}

}  // namespace
}  // namespace strata
