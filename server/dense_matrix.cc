#include "server/dense_matrix.h"

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
                                                   " per request (--max_batch_rows)"));
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

void ToDenseMatrix(const Matrix& m, v1::DenseMatrix* dense) {
  dense->set_rows(static_cast<int32_t>(m.rows()));
  dense->set_cols(static_cast<int32_t>(m.cols()));
  dense->mutable_values()->Resize(static_cast<int>(m.size()), 0.0f);
  std::memcpy(dense->mutable_values()->mutable_data(), m.data(), sizeof(float) * m.size());
}

}  // namespace strata
