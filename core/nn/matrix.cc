#include "core/nn/matrix.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace strata {

absl::Status CheckColumns(const Matrix& batch, int expected_cols) {
  if (batch.cols() != expected_cols) {
    return absl::InvalidArgumentError(absl::StrCat(
        "expected ", expected_cols, " columns (features) per row, got ", batch.cols()));
  }
  return absl::OkStatus();
}

absl::Status CheckBatch(const Matrix& batch, int expected_cols) {
  if (batch.rows() == 0) return absl::InvalidArgumentError("the batch has no rows");
  if (absl::Status s = CheckColumns(batch, expected_cols); !s.ok()) return s;
  // Cheap check first; locate the culprit only when there is one.
  if (batch.allFinite()) return absl::OkStatus();
  for (Eigen::Index r = 0; r < batch.rows(); ++r) {
    for (Eigen::Index c = 0; c < batch.cols(); ++c) {
      const float v = batch(r, c);
      if (!std::isfinite(v)) {
        return absl::InvalidArgumentError(absl::StrCat("row ", r, ", column ", c, ": value is ",
                                                       std::isnan(v) ? "NaN" : "infinite"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace strata
