// RpcCall: one RPC, or one message of a stream, being answered.
//
// In flight from construction until Finish, which records the outcome in
// the server's metrics and is the one place an absl::Status becomes the
// call's grpc::Status (through ToGrpcStatus, server/grpc_status.h).
//
//   RpcCall call(options_.metrics, "GetModel");  // in a handler
//   ...
//   return call.FinishUnary(context, status, response->model(), rows);
//
// Not thread-safe; one per call (or stream message).
#ifndef STRATA_SERVER_RPC_CALL_H_
#define STRATA_SERVER_RPC_CALL_H_

#include <grpcpp/support/server_callback.h>
#include <grpcpp/support/status.h>

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/metrics.h"
#include "server/work_queue.h"
#include "strata/v1/service.pb.h"

namespace strata {

// Records one call's start now and its outcome at Finish. `metrics` may be null.
class RpcCall {
 public:
  RpcCall(ServerMetrics* metrics, std::string method);
  grpc::Status Finish(const absl::Status& status, const v1::ModelVersion& model = {},
                      int64_t rows = 0);
  grpc::ServerUnaryReactor* FinishUnary(grpc::CallbackServerContext* context,
                                        const absl::Status& status,
                                        const v1::ModelVersion& model = {}, int64_t rows = 0);
  // Runs `work` on `queue` and finishes the call with its status there, so
  // that work which waits on the disk or on a lock leaves gRPC's callback
  // thread at once. ResourceExhausted when the queue is full; Cancelled,
  // without running `work`, when the call was cancelled (the client gave up
  // or its deadline passed) while it waited; inline when `queue` is null.
  // Consumes the call: Finish is called by whoever runs it.
  grpc::ServerUnaryReactor* FinishUnaryOn(WorkQueue* queue, grpc::CallbackServerContext* context,
                                          std::function<absl::Status()> work);
  // The same for any reactor: `finish` gets the call's status (Finish's)
  // on the thread that ran `work`.
  void FinishOn(WorkQueue* queue, grpc::CallbackServerContext* context,
                std::function<absl::Status()> work,
                std::function<void(const grpc::Status&)> finish);

 private:
  ServerMetrics* const metrics_;
  const std::string method_;
  const absl::Time start_;
};

}  // namespace strata

#endif  // STRATA_SERVER_RPC_CALL_H_
