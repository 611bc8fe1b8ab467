// absl::Status to grpc::Status (the codes share their numbering), as TF
// Serving's ToGRPCStatus. Handlers finish through RpcCall (metrics.h), which
// calls this and records the request metrics.
#ifndef STRATA_SERVER_GRPC_STATUS_H_
#define STRATA_SERVER_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace strata {

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace strata

#endif  // STRATA_SERVER_GRPC_STATUS_H_
