// absl::Status to grpc::Status (the codes share their numbering), as TF
// Serving's ToGRPCStatus. Handlers finish through RpcCall (rpc_call.h), which
// calls this and records the request metrics.
//
// The message travels in the response's HTTP/2 headers, which gRPC clients
// cap at 8 KiB by default: a longer one (say, echoing a 10,000-character
// job id) would reach the client as RESOURCE_EXHAUSTED "received initial
// metadata size exceeds limit" instead of the server's answer. So messages
// are clipped to kMaxStatusMessageBytes, which stays under the cap even when
// every byte is percent-encoded (3 bytes each) on the wire.
#ifndef STRATA_SERVER_GRPC_STATUS_H_
#define STRATA_SERVER_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace strata {

inline constexpr size_t kMaxStatusMessageBytes = 1024;

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace strata

#endif  // STRATA_SERVER_GRPC_STATUS_H_
