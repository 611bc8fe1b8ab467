#include "server/rpc_call.h"

#include <grpcpp/server_context.h>

#include <utility>

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

}  // namespace strata
