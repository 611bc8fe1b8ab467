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
  FinishOn(queue, std::move(work), [reactor](const grpc::Status& s) { reactor->Finish(s); });
  return reactor;
}

void RpcCall::FinishOn(WorkQueue* queue, std::function<absl::Status()> work,
                       std::function<void(const grpc::Status&)> finish) {
  if (queue == nullptr) {
    finish(Finish(work()));
    return;
  }
  // A copy of this call, run by the queue, finishes it; this one is left
  // unfinished (only the one Finish records the call).
  auto run = [call = *this, work, finish]() mutable { finish(call.Finish(work())); };
  if (!queue->Submit(std::move(run))) {
    finish(Finish(absl::ResourceExhaustedError(absl::StrCat(
        "the server has too many ", method_, " calls waiting for the disk; retry with backoff"))));
  }
}

}  // namespace strata
