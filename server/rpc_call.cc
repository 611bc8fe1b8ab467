#include "server/rpc_call.h"

#include <grpcpp/server_context.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/grpc_status.h"

namespace strata {

RpcCall::RpcCall(ServerMetrics* metrics, std::string method)
    : metrics_(metrics), method_(std::move(method)), start_(absl::Now()) {
  if (metrics_ != nullptr) metrics_->RpcStarted(method_);
}

grpc::Status RpcCall::Finish(const absl::Status& status, const v1::ModelVersion& model,
                             int64_t rows) {
  grpc::Status out = ToGrpcStatus(status);
  if (metrics_ != nullptr) {
    metrics_->RpcFinished(method_, model, out.error_code(), absl::Now() - start_, rows);
  }
  return out;
}

grpc::ServerUnaryReactor* RpcCall::FinishUnary(grpc::CallbackServerContext* context,
                                               const absl::Status& status,
                                               const v1::ModelVersion& model, int64_t rows) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(Finish(status, model, rows));
  return reactor;
}

grpc::ServerUnaryReactor* RpcCall::FinishUnaryOn(WorkQueue* queue,
                                                 grpc::CallbackServerContext* context,
                                                 std::function<absl::Status()> work) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  FinishOn(queue, context, std::move(work),
           [reactor](const grpc::Status& s) { reactor->Finish(s); });
  return reactor;
}

void RpcCall::FinishOn(WorkQueue* queue, grpc::CallbackServerContext* context,
                       std::function<absl::Status()> work,
                       std::function<void(const grpc::Status&)> finish) {
  if (queue == nullptr) {
    finish(Finish(work()));
    return;
  }
  // A copy of this call, run by the queue, finishes it; this one is left
  // unfinished (only the one Finish records the call).
  auto run = [call = *this, context, work, finish]() mutable {
    // A caller that is gone has its answer (CANCELLED or DEADLINE_EXCEEDED):
    // a write it can no longer hear of must not happen behind its back.
    finish(call.Finish(context->IsCancelled()
                           ? absl::CancelledError("the call was cancelled while it waited")
                           : work()));
  };
  if (!queue->Submit(std::move(run))) {
    finish(Finish(absl::ResourceExhaustedError(
        "the server has too many calls waiting to write the model store or job records; "
        "retry with backoff")));
  }
}

}  // namespace strata
