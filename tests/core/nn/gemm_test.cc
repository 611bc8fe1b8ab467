#include "core/nn/gemm.h"

#include <omp.h>

#include <limits>

#include "gtest/gtest.h"

namespace strata {
namespace {

// Each split must cover every row and column of the result, whatever the
// extent and thread count; the result starts as NaN so that a row or column
// no thread wrote shows.
class SplitProductTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    threads_ = omp_get_max_threads();
    omp_set_num_threads(GetParam());
  }
  void TearDown() override { omp_set_num_threads(threads_); }

 private:
  int threads_ = 1;
};

TEST_P(SplitProductTest, EveryRowAndColumnOfTheResultIsComputed) {
  // Extents around whole blocks: 97 and 1281 left their last row unwritten
  // with two threads (640 = 1281 / 2 is already a multiple of 16).
  for (const Eigen::Index extent : {47, 48, 96, 97, 113, 128, 129, 250, 1000, 1280, 1281, 1283}) {
    const Matrix a = Matrix::Random(extent, 24);
    const Matrix w = Matrix::Random(24, 7);
    Matrix rows = Matrix::Constant(extent, 7, std::numeric_limits<float>::quiet_NaN());
    SplitProduct(a, w, Split::kRows, &rows, /*accumulate=*/false);
    const Matrix expected_rows = a * w;
    ASSERT_TRUE(rows.allFinite()) << "rows split, extent " << extent;
    EXPECT_TRUE(rows.isApprox(expected_rows, 1e-5f)) << "rows split, extent " << extent;

    const Matrix x = Matrix::Random(5, 24);
    const Matrix wide = Matrix::Random(24, extent);
    Matrix cols = Matrix::Zero(5, extent);
    SplitProduct(x, wide, Split::kCols, &cols, /*accumulate=*/true);
    SplitProduct(x, wide, Split::kCols, &cols, /*accumulate=*/true);
    const Matrix expected_cols = 2 * (x * wide);
    EXPECT_TRUE(cols.isApprox(expected_cols, 1e-5f)) << "cols split, extent " << extent;
  }
}

INSTANTIATE_TEST_SUITE_P(Threads, SplitProductTest, ::testing::Values(1, 2, 3, 4));

TEST(SplitThreadsTest, SmallProductsStayOnOneThreadLargeOnesSpread) {
  const int saved = omp_get_max_threads();
  omp_set_num_threads(20);
  // A one-row Encode of a 1000-wide layer: 10^6 multiply-adds, one thread.
  EXPECT_EQ(SplitThreads(1, 1000, 1000, 1000), 1);
  // A training batch of 128 rows through 784 -> 512: 5 x 10^7, as many
  // threads as 48-wide blocks of the 512 outputs (10).
  EXPECT_EQ(SplitThreads(128, 784, 512, 512), 10);
  // Narrow outputs: one thread per 48 columns at most.
  EXPECT_EQ(SplitThreads(4096, 512, 96, 96), 2);
  omp_set_num_threads(1);
  EXPECT_EQ(SplitThreads(128, 784, 512, 512), 1);
  omp_set_num_threads(saved);
}

}  // namespace
}  // namespace strata
