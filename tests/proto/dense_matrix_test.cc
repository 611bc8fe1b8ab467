#include "proto/dense_matrix.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace strata {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

Matrix Counting(int rows, int cols) {
  Matrix m(rows, cols);
  for (int i = 0; i < rows * cols; ++i) m.data()[i] = static_cast<float>(i);
  return m;
}

TEST(DenseMatrixTest, RowsOfABatchTravelWithTheirNamesAndComeBackTheSame) {
  const Matrix m = Counting(5, 3);
  v1::DenseMatrix dense;
  ToDenseMatrix(m.middleRows(1, 2), &dense, std::vector<std::string>{"a", "b", "c"});
  EXPECT_EQ(dense.rows(), 2);
  EXPECT_EQ(dense.cols(), 3);
  EXPECT_THAT(dense.values(), ElementsAre(3, 4, 5, 6, 7, 8));
  EXPECT_THAT(dense.column_names(), ElementsAre("a", "b", "c"));
  absl::StatusOr<Matrix> back = FromDenseMatrix(dense, "rows", 2);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, m.middleRows(1, 2));
}

TEST(DenseMatrixTest, AColumnBlockIsCopiedRowByRow) {
  const Matrix m = Counting(3, 4);
  v1::DenseMatrix dense;
  ToDenseMatrix(m.rightCols(2), &dense);
  EXPECT_THAT(dense.values(), ElementsAre(2, 3, 6, 7, 10, 11));
}

TEST(DenseMatrixTest, ReusingAMessageReplacesItsValuesAndNames) {
  v1::DenseMatrix dense;
  ToDenseMatrix(Counting(4, 2), &dense, std::vector<std::string>{"x", "y"});
  ToDenseMatrix(Counting(1, 2), &dense);
  EXPECT_EQ(dense.rows(), 1);
  EXPECT_THAT(dense.values(), ElementsAre(0, 1));
  EXPECT_TRUE(dense.column_names().empty());
}

TEST(DenseMatrixTest, ErrorsNameTheFieldAndWhatIsWrong) {
  v1::DenseMatrix empty;
  EXPECT_THAT(std::string(FromDenseMatrix(empty, "rows").status().message()),
              HasSubstr("rows: the batch is empty (0 rows x 0 columns)"));

  v1::DenseMatrix dense;
  ToDenseMatrix(Counting(3, 2), &dense);
  EXPECT_THAT(std::string(FromDenseMatrix(dense, "rows", 2).status().message()),
              HasSubstr("rows: 3 rows exceed the limit of 2 per request"));

  v1::DenseMatrix short_values = dense;
  short_values.mutable_values()->RemoveLast();
  EXPECT_THAT(std::string(FromDenseMatrix(short_values, "chunk").status().message()),
              HasSubstr("chunk: 3 rows x 2 columns need 6 values, got 5"));

  v1::DenseMatrix not_finite = dense;
  not_finite.set_values(3, std::numeric_limits<float>::quiet_NaN());
  const absl::Status s = FromDenseMatrix(not_finite, "rows").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("rows: row 1, column 1: value is NaN"));
}

}  // namespace
}  // namespace strata
