// Conversions between the wire's DenseMatrix and core's Matrix, with the
// checks every request needs: shape, value count, finite values, row limit.
#ifndef STRATA_SERVER_DENSE_MATRIX_H_
#define STRATA_SERVER_DENSE_MATRIX_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/matrix.h"
#include "strata/v1/service.pb.h"

namespace strata {

// InvalidArgument naming `field` and the first bad row and column when the
// matrix is empty, inconsistent, over `max_rows` rows, or not finite.
absl::StatusOr<Matrix> FromDenseMatrix(const v1::DenseMatrix& dense, absl::string_view field,
                                       int64_t max_rows);

void ToDenseMatrix(const Matrix& m, v1::DenseMatrix* dense);

}  // namespace strata

#endif  // STRATA_SERVER_DENSE_MATRIX_H_
