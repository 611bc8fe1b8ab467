// ModelService: ListModels, GetModel and SetLabel over the registry.
//
// Thread-safe.
#ifndef STRATA_SERVER_MODEL_SERVICE_H_
#define STRATA_SERVER_MODEL_SERVICE_H_

#include "server/auth.h"
#include "server/metrics.h"
#include "server/model_registry.h"
#include "server/work_queue.h"
#include "strata/v1/service.grpc.pb.h"

namespace strata {

class ModelServiceImpl final : public v1::ModelService::CallbackService {
 public:
  struct Options {
    // Where models come from. Required; must outlive the service.
    ModelRegistry* registry = nullptr;
    // Request metrics. Default none.
    ServerMetrics* metrics = nullptr;
    // Who may call: SetLabel writes, the rest read. Default: everyone.
    Authorizer auth;
    // Runs SetLabel, which writes the store and reloads it, off gRPC's
    // callback threads. Must outlive the service. Default none: inline.
    WorkQueue* store_work = nullptr;
  };
  explicit ModelServiceImpl(Options options) : options_(options) {}

  grpc::ServerUnaryReactor* ListModels(grpc::CallbackServerContext* context,
                                       const v1::ListModelsRequest* request,
                                       v1::ListModelsResponse* response) override;
  grpc::ServerUnaryReactor* GetModel(grpc::CallbackServerContext* context,
                                     const v1::GetModelRequest* request,
                                     v1::GetModelResponse* response) override;
  grpc::ServerUnaryReactor* SetLabel(grpc::CallbackServerContext* context,
                                     const v1::SetLabelRequest* request,
                                     v1::SetLabelResponse* response) override;
  grpc::ServerUnaryReactor* DriftReport(grpc::CallbackServerContext* context,
                                        const v1::DriftReportRequest* request,
                                        v1::DriftReportResponse* response) override;

 private:
  const Options options_;
};

}  // namespace strata

#endif  // STRATA_SERVER_MODEL_SERVICE_H_
