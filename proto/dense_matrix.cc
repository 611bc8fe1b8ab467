#include "proto/dense_matrix.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace strata {

absl::StatusOr<Matrix> FromDenseMatrix(const v1::DenseMatrix& dense, absl::string_view field,
                                       int64_t max_rows) {
  if (dense.rows() <= 0 || dense.cols() <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": the batch is empty (", dense.rows(),
                                                   " rows x ", dense.cols(), " columns)"));
  }
  if (dense.rows() > max_rows) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", dense.rows(),
                                                   " rows exceed the limit of ", max_rows,
                                                   " per request (--max_request_rows)"));
  }
  const int64_t expected = int64_t{dense.rows()} * dense.cols();
  if (dense.values_size() != expected) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", dense.rows(), " rows x ",
                                                   dense.cols(), " columns need ", expected,
                                                   " values, got ", dense.values_size()));
  }
  Matrix m(dense.rows(), dense.cols());
  std::memcpy(m.data(), dense.values().data(), sizeof(float) * static_cast<size_t>(expected));
  if (absl::Status s = CheckBatch(m, dense.cols()); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", s.message()));
  }
  return m;
}

void ToDenseMatrix(Eigen::Ref<const Matrix> rows, v1::DenseMatrix* dense,
                   absl::Span<const std::string> column_names) {
  dense->set_rows(static_cast<int32_t>(rows.rows()));
  dense->set_cols(static_cast<int32_t>(rows.cols()));
  dense->mutable_values()->Resize(static_cast<int>(rows.size()), 0.0f);
  if (rows.size() > 0) {
    float* out = dense->mutable_values()->mutable_data();
    const size_t row_bytes = sizeof(float) * static_cast<size_t>(rows.cols());
    if (rows.outerStride() == rows.cols()) {  // contiguous: one copy
      std::memcpy(out, rows.data(), row_bytes * static_cast<size_t>(rows.rows()));
    } else {
      for (Eigen::Index r = 0; r < rows.rows(); ++r) {
        std::memcpy(out + r * rows.cols(), rows.row(r).data(), row_bytes);
      }
    }
  }
  dense->clear_column_names();
  dense->mutable_column_names()->Add(column_names.begin(), column_names.end());
}

}  // namespace strata
