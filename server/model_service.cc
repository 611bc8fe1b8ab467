#include "server/model_service.h"

#include "absl/strings/str_cat.h"
#include "core/model/model_io.h"
#include "server/rpc_call.h"

namespace strata {
grpc::ServerUnaryReactor* ModelServiceImpl::ListModels(grpc::CallbackServerContext* context,
                                                       const v1::ListModelsRequest* request,
                                                       v1::ListModelsResponse* response) {
  RpcCall call(options_.metrics, "ListModels");
  if (absl::Status s = options_.auth.Check(*context, Access::kRead); !s.ok()) {
    return call.FinishUnary(context, s);
  }
  for (const ModelRegistry::ModelView& view : options_.registry->List()) {
    if (view.versions.empty()) continue;
    v1::ModelSummary* m = response->add_models();
    m->set_name(view.name);
    m->mutable_versions()->Add(view.versions.begin(), view.versions.end());
    m->mutable_labels()->insert(view.labels.begin(), view.labels.end());
  }
  return call.FinishUnary(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* ModelServiceImpl::GetModel(grpc::CallbackServerContext* context,
                                                     const v1::GetModelRequest* request,
                                                     v1::GetModelResponse* response) {
  RpcCall call(options_.metrics, "GetModel");
  if (absl::Status s = options_.auth.Check(*context, Access::kRead); !s.ok()) {
    return call.FinishUnary(context, s);
  }
  absl::StatusOr<ServableModel> m = options_.registry->Get(request->model());
  if (!m.ok()) return call.FinishUnary(context, m.status());
  const Model& model = *m->model;
  const ModelInfo& info = model.info();
  response->mutable_model()->set_name(m->name);
  response->mutable_model()->set_version(m->version);
  *response->mutable_architecture() = model.autoencoder().architecture();
  *response->mutable_scaler() = model.scaler().ToProto();
  response->mutable_feature_names()->Add(info.feature_names.begin(), info.feature_names.end());
  *response->mutable_calibration() = info.calibration;
  *response->mutable_config() = info.config;
  response->mutable_history()->Add(info.history.begin(), info.history.end());
  *response->mutable_summary() = info.summary;
  response->set_created_unix_micros(info.created_unix_micros);
  *response->mutable_drift_baseline() = info.drift_baseline;
  response->mutable_class_names()->Add(info.class_names.begin(), info.class_names.end());
  for (const ModelRegistry::ModelView& view : options_.registry->List()) {
    if (view.name != m->name) continue;
    for (const auto& [label, version] : view.labels) {
      if (version == m->version) response->add_labels(label);
    }
  }
  return call.FinishUnary(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* ModelServiceImpl::SetLabel(grpc::CallbackServerContext* context,
                                                     const v1::SetLabelRequest* request,
                                                     v1::SetLabelResponse* response) {
  RpcCall call(options_.metrics, "SetLabel");
  if (absl::Status s = options_.auth.Check(*context, Access::kWrite); !s.ok()) {
    return call.FinishUnary(context, s);
  }
  return call.FinishUnaryOn(options_.store_work, context, [this, request, response] {
    absl::StatusOr<std::map<std::string, int64_t>> labels =
        options_.registry->SetLabel(request->model_name(), request->label(), request->version());
    if (labels.ok()) response->mutable_labels()->insert(labels->begin(), labels->end());
    return labels.status();
  });
}

grpc::ServerUnaryReactor* ModelServiceImpl::DriftReport(grpc::CallbackServerContext* context,
                                                        const v1::DriftReportRequest* request,
                                                        v1::DriftReportResponse* response) {
  RpcCall call(options_.metrics, "DriftReport");
  if (absl::Status s = options_.auth.Check(*context, Access::kRead); !s.ok()) {
    return call.FinishUnary(context, s);
  }
  absl::StatusOr<ServableModel> m = options_.registry->Get(request->model());
  if (!m.ok()) return call.FinishUnary(context, m.status());
  if (m->drift == nullptr) {
    return call.FinishUnary(
        context, absl::FailedPreconditionError(absl::StrCat(
                     "model '", m->name, "' version ", m->version,
                     " has no drift baseline (trained before drift monitoring); retrain it")));
  }
  response->mutable_model()->set_name(m->name);
  response->mutable_model()->set_version(m->version);
  *response->mutable_figures() = m->drift->Figures();
  return call.FinishUnary(context, absl::OkStatus(), response->model());
}

}  // namespace strata
