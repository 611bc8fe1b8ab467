// The one place where absl::Status becomes grpc::Status (the codes share
// their numbering), as TF Serving's ToGRPCStatus.
#ifndef STRATA_SERVER_GRPC_STATUS_H_
#define STRATA_SERVER_GRPC_STATUS_H_

#include <grpcpp/support/server_callback.h>
#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace strata {

grpc::Status ToGrpcStatus(const absl::Status& status);

// Ends a unary callback call with `status` and returns its reactor.
grpc::ServerUnaryReactor* FinishUnary(grpc::CallbackServerContext* context,
                                      const absl::Status& status);

}  // namespace strata

#endif  // STRATA_SERVER_GRPC_STATUS_H_
