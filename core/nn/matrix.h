// Matrix types shared by the core: batches are row-major, one record per row.
//
//   strata::Matrix batch(rows, features);
//   absl::Status s = strata::CheckBatch(batch, model.input_dim());
#ifndef STRATA_CORE_NN_MATRIX_H_
#define STRATA_CORE_NN_MATRIX_H_

#include <Eigen/Core>

#include "absl/status/status.h"

namespace strata {

template <typename T>
using MatrixT = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using RowVectorT = Eigen::Matrix<T, 1, Eigen::Dynamic>;

using Matrix = MatrixT<float>;
using RowVector = RowVectorT<float>;

// OK when `batch` has `expected_cols` columns, at least one row, and only
// finite values; otherwise InvalidArgument naming the first bad row and
// column (0-based, as the rows were sent).
absl::Status CheckBatch(const Matrix& batch, int expected_cols);
// The column-count part of CheckBatch alone.
absl::Status CheckColumns(const Matrix& batch, int expected_cols);

}  // namespace strata

#endif  // STRATA_CORE_NN_MATRIX_H_
