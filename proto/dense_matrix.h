// The one conversion between the wire's DenseMatrix and core's Matrix, for
// the server, the CLI, the benchmarks and the tests.
//
// It sits beside the wire contract, one layer above core and the generated
// messages, so that everything holding both types reaches it: strata_core
// never sees the service messages, and the client library (strata_client)
// stays proto-only by taking raw row-major floats.
//
//   v1::EncodeRequest request;
//   ToDenseMatrix(batch.middleRows(start, n), request.mutable_rows(), names);
//   absl::StatusOr<Matrix> rows = FromDenseMatrix(request.rows(), "rows", 4096);
//
// Functions only; thread-compatible.
#ifndef STRATA_PROTO_DENSE_MATRIX_H_
#define STRATA_PROTO_DENSE_MATRIX_H_

#include <cstdint>
#include <limits>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/nn/matrix.h"
#include "strata/v1/service.pb.h"

namespace strata {

// `dense` as a Matrix, with the checks every received batch needs:
// InvalidArgument naming `field` (and the first bad row and column) when the
// matrix is empty, its value count does not match rows x cols, it has more
// than `max_rows` rows (the server's --max_request_rows), or a value is not
// finite. Column names are not looked at: they are checked against a model.
absl::StatusOr<Matrix> FromDenseMatrix(const v1::DenseMatrix& dense, absl::string_view field,
                                       int64_t max_rows = std::numeric_limits<int64_t>::max());

// Replaces `dense` with `rows` (any row-major block, e.g. a middleRows()
// slice, copied once) and `column_names` (empty: none sent, and the server
// takes the columns by position).
void ToDenseMatrix(Eigen::Ref<const Matrix> rows, v1::DenseMatrix* dense,
                   absl::Span<const std::string> column_names = {});

}  // namespace strata

#endif  // STRATA_PROTO_DENSE_MATRIX_H_
