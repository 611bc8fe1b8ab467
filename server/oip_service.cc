#include "server/oip_service.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "server/grpc_status.h"
#include "server/oip_tensors.h"
#include "server/rpc_call.h"

namespace strata {
namespace {

using inference::ModelInferRequest;
using inference::ModelInferResponse;
using oip::Kind;
using oip::Output;
using oip::Plan;

google::protobuf::ArenaOptions ArenaOptionsFor(char* block, size_t size) {
  google::protobuf::ArenaOptions options;
  options.initial_block = block;
  options.initial_block_size = size;
  return options;
}

// One inference in flight: its model calls run one after another (each on
// the thread InferenceServiceImpl::Compute picks), then the response is
// filled and `done` called.
struct InferCall : std::enable_shared_from_this<InferCall> {
  const InferenceServiceImpl* inference;
  ServableModel model;
  Matrix rows;  // moved into the last model call
  int64_t row_count = 0;
  Plan plan;
  bool raw = false;
  ModelInferResponse* response;
  std::vector<Matrix> results;
  std::function<void(const absl::Status&, const v1::ModelVersion&, int64_t)> done;
  // Fill's temporaries (strata's own answers, from which the outputs are
  // copied).
  alignas(16) char block[1024];
  google::protobuf::Arena arena{ArenaOptionsFor(block, sizeof(block))};

  v1::ModelVersion Version() const {
    v1::ModelVersion v;
    v.set_name(model.name);
    v.set_version(model.version);
    return v;
  }

  void Step(size_t i) {
    if (i == plan.ops.size()) {
      oip::Fill(model, plan, results, raw, &arena, response);
      done(absl::OkStatus(), Version(), row_count);
      return;
    }
    InferenceServiceImpl::Prepared p;
    p.model = model;
    // Each call takes its own copy (a batcher may queue it); the last takes
    // the rows themselves.
    if (i + 1 < plan.ops.size()) {
      p.rows = rows;
    } else {
      p.rows = std::move(rows);
    }
    p.op = plan.ops[i];
    std::shared_ptr<InferCall> self = shared_from_this();
    inference->Compute(std::move(p), [self, i](absl::StatusOr<Matrix> out) {
      if (!out.ok()) {
        self->done(out.status(), self->Version(), self->row_count);
        return;
      }
      self->results[i] = *std::move(out);
      self->Step(i + 1);
    });
  }
};

}  // namespace

absl::StatusOr<v1::ModelSpec> OipModelSpec(const std::string& name, const std::string& version) {
  if (name.empty()) return absl::InvalidArgumentError("the model name is empty");
  v1::ModelSpec spec;
  spec.set_name(name);
  if (version.empty()) return spec;
  if (std::all_of(version.begin(), version.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    int64_t number = 0;
    if (!absl::SimpleAtoi(version, &number) || number < 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model version '", version, "' is not a version number (1 or more) strata can hold"));
    }
    spec.set_version(number);
  } else {
    spec.set_label(version);
  }
  return spec;
}

OipServiceImpl::OipServiceImpl(Options options) : options_(std::move(options)) {}


void OipServiceImpl::Infer(
    const ModelInferRequest& request, ModelInferResponse* response,
    std::function<void(const absl::Status&, const v1::ModelVersion&, int64_t rows)> done) const {
  response->set_id(request.id());
  absl::StatusOr<v1::ModelSpec> spec = OipModelSpec(request.model_name(), request.model_version());
  if (!spec.ok()) return done(spec.status(), {}, 0);
  // The rows go through the checks of strata's own requests (shape, finite
  // values, the model's width and feature names) by way of
  // PrepareReconstruct, which adds none of its own.
  alignas(16) char block[2048];
  google::protobuf::Arena arena(ArenaOptionsFor(block, sizeof(block)));
  auto& rows_request = *google::protobuf::Arena::CreateMessage<v1::ReconstructRequest>(&arena);
  *rows_request.mutable_model() = *spec;
  bool raw = false;
  if (absl::Status s = oip::ReadInput(request, options_.inference->options().max_request_rows,
                                 rows_request.mutable_rows(), &raw);
      !s.ok()) {
    return done(s, {}, 0);
  }
  const int64_t rows = rows_request.rows().rows();
  absl::StatusOr<InferenceServiceImpl::Prepared> prepared =
      options_.inference->PrepareReconstruct(rows_request);
  if (!prepared.ok()) return done(prepared.status(), {}, rows);
  absl::StatusOr<Plan> plan = oip::PlanOutputs(request, prepared->model);
  if (!plan.ok()) return done(plan.status(), {}, rows);
  auto call = std::make_shared<InferCall>();
  call->inference = options_.inference;
  call->model = prepared->model;
  call->rows = std::move(prepared->rows);
  call->row_count = call->rows.rows();
  call->plan = *std::move(plan);
  call->raw = raw;
  call->response = response;
  call->results.resize(call->plan.ops.size());
  call->done = std::move(done);
  call->Step(0);
}

grpc::ServerUnaryReactor* OipServiceImpl::ServerLive(grpc::CallbackServerContext* context,
                                                     const inference::ServerLiveRequest*,
                                                     inference::ServerLiveResponse* response) {
  // Like the health service: for probes, without a token.
  response->set_live(true);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* OipServiceImpl::ServerReady(grpc::CallbackServerContext* context,
                                                      const inference::ServerReadyRequest*,
                                                      inference::ServerReadyResponse* response) {
  response->set_ready(!options_.ready || options_.ready());
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* OipServiceImpl::ModelReady(grpc::CallbackServerContext* context,
                                                     const inference::ModelReadyRequest* request,
                                                     inference::ModelReadyResponse* response) {
  const InferenceServiceImpl::Options& o = options_.inference->options();
  RpcCall call(o.metrics, "ModelReady");
  if (absl::Status s = o.auth.Check(*context, Access::kRead); !s.ok()) {
    return call.FinishUnary(context, s);
  }
  absl::StatusOr<v1::ModelSpec> spec = OipModelSpec(request->name(), request->version());
  if (!spec.ok()) return call.FinishUnary(context, spec.status());
  absl::StatusOr<ServableModel> m = o.registry->Get(*spec);
  if (!m.ok() && !absl::IsNotFound(m.status())) return call.FinishUnary(context, m.status());
  // A model that is not served is not ready; that is an answer, not an error.
  response->set_ready(m.ok() && (!options_.ready || options_.ready()));
  return call.FinishUnary(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* OipServiceImpl::ServerMetadata(
    grpc::CallbackServerContext* context, const inference::ServerMetadataRequest*,
    inference::ServerMetadataResponse* response) {
  const InferenceServiceImpl::Options& o = options_.inference->options();
  RpcCall call(o.metrics, "ServerMetadata");
  if (absl::Status s = o.auth.Check(*context, Access::kRead); !s.ok()) {
    return call.FinishUnary(context, s);
  }
  response->set_name("strata");
  response->set_version(options_.server_version);
  // Request and output parameters, and Triton's ModelStreamInfer.
  response->add_extensions("parameters");
  response->add_extensions("model_stream_infer");
  return call.FinishUnary(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* OipServiceImpl::ModelMetadata(
    grpc::CallbackServerContext* context, const inference::ModelMetadataRequest* request,
    inference::ModelMetadataResponse* response) {
  const InferenceServiceImpl::Options& o = options_.inference->options();
  RpcCall call(o.metrics, "ModelMetadata");
  if (absl::Status s = o.auth.Check(*context, Access::kRead); !s.ok()) {
    return call.FinishUnary(context, s);
  }
  absl::StatusOr<v1::ModelSpec> spec = OipModelSpec(request->name(), request->version());
  if (!spec.ok()) return call.FinishUnary(context, spec.status());
  absl::StatusOr<ServableModel> m = o.registry->Get(*spec);
  if (!m.ok()) return call.FinishUnary(context, m.status());
  const Model& model = *m->model;
  response->set_name(m->name);
  for (const ModelRegistry::ModelView& view : o.registry->List()) {
    if (view.name != m->name) continue;
    for (int64_t v : view.versions) response->add_versions(absl::StrCat(v));
  }
  response->set_platform("strata");
  const int64_t d = model.input_dim();
  auto add = [](google::protobuf::RepeatedPtrField<
                    inference::ModelMetadataResponse::TensorMetadata>* list,
                const std::string& name, const char* datatype, std::vector<int64_t> shape) {
    inference::ModelMetadataResponse::TensorMetadata* t = list->Add();
    t->set_name(name);
    t->set_datatype(datatype);
    t->mutable_shape()->Add(shape.begin(), shape.end());
    return t;
  };
  auto* input = add(response->mutable_inputs(), oip::kInput, "FP32", {-1, d});
  (*input->mutable_parameters())[oip::kFeatureNamesParameter].set_string_param(
      absl::StrJoin(model.info().feature_names, ","));
  const auto& widths = model.autoencoder().architecture().encoder_widths();
  for (const Output& out : oip::AllOutputs(model)) {
    switch (out.kind) {
      case Kind::kLayer:
        add(response->mutable_outputs(), out.name, "FP32", {-1, widths[out.layer - 1]});
        break;
      case Kind::kReconstruction:
      case Kind::kFeatureErrors:
        add(response->mutable_outputs(), out.name, "FP32", {-1, d});
        break;
      case Kind::kScore:
      case Kind::kPercentile:
        add(response->mutable_outputs(), out.name, "FP32", {-1});
        break;
      case Kind::kIsAnomaly:
        add(response->mutable_outputs(), out.name, "BOOL", {-1});
        break;
      case Kind::kProbabilities: {
        auto* t = add(response->mutable_outputs(), out.name, "FP32",
                      {-1, static_cast<int64_t>(model.info().class_names.size())});
        (*t->mutable_parameters())["class_names"].set_string_param(
            absl::StrJoin(model.info().class_names, ","));
        break;
      }
      case Kind::kClass:
        add(response->mutable_outputs(), out.name, "BYTES", {-1});
        break;
    }
  }
  v1::ModelVersion version;
  version.set_name(m->name);
  version.set_version(m->version);
  return call.FinishUnary(context, absl::OkStatus(), version);
}

grpc::ServerUnaryReactor* OipServiceImpl::ModelInfer(grpc::CallbackServerContext* context,
                                                     const ModelInferRequest* request,
                                                     ModelInferResponse* response) {
  const InferenceServiceImpl::Options& o = options_.inference->options();
  auto call = std::make_shared<RpcCall>(o.metrics, "ModelInfer");
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (absl::Status s = o.auth.Check(*context, Access::kRead); !s.ok()) {
    reactor->Finish(call->Finish(s));
    return reactor;
  }
  Infer(*request, response,
        [call, reactor](const absl::Status& s, const v1::ModelVersion& model, int64_t rows) {
          reactor->Finish(call->Finish(s, model, rows));
        });
  return reactor;
}

namespace {

// ModelStreamInfer: one request at a time, read, answered, written, then the
// next read, so responses come in request order. A failed request gets an
// error_message (its status code's name, then the message) and the stream
// goes on, as Triton's does. Deletes itself in OnDone.
class StreamInferReactor final
    : public grpc::ServerBidiReactor<ModelInferRequest, inference::ModelStreamInferResponse> {
 public:
  StreamInferReactor(const OipServiceImpl* service, ServerMetrics* metrics,
                     const absl::Status& admitted)
      : service_(service), metrics_(metrics) {
    if (!admitted.ok()) {
      RpcCall call(metrics_, "ModelStreamInfer");
      Finish(call.Finish(admitted));
      return;
    }
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client has finished sending (or the call ended)
      Finish(grpc::Status::OK);
      return;
    }
    // The sub-message Infer fills stays (Clear on the outer message would
    // delete it, and Infer keeps a pointer to it until done).
    response_.clear_error_message();
    response_.mutable_infer_response()->Clear();
    auto call = std::make_shared<RpcCall>(metrics_, "ModelStreamInfer");
    service_->Infer(request_, response_.mutable_infer_response(),
                    [this, call](const absl::Status& s, const v1::ModelVersion& model,
                                 int64_t rows) {
                      call->Finish(s, model, rows);
                      if (!s.ok()) {
                        const std::string id = request_.id();
                        response_.mutable_infer_response()->Clear();
                        response_.set_error_message(absl::StrCat(
                            absl::StatusCodeToString(s.code()), ": ", s.message()));
                        response_.mutable_infer_response()->set_id(id);
                        response_.mutable_infer_response()->set_model_name(
                            request_.model_name());
                        response_.mutable_infer_response()->set_model_version(
                            request_.model_version());
                      }
                      StartWrite(&response_);
                    });
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {  // the client went away
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the stream's write failed"));
      return;
    }
    StartRead(&request_);
  }

  void OnDone() override { delete this; }

 private:
  const OipServiceImpl* const service_;
  ServerMetrics* const metrics_;
  ModelInferRequest request_;
  inference::ModelStreamInferResponse response_;
};

}  // namespace

grpc::ServerBidiReactor<ModelInferRequest, inference::ModelStreamInferResponse>*
OipServiceImpl::ModelStreamInfer(grpc::CallbackServerContext* context) {
  const InferenceServiceImpl::Options& o = options_.inference->options();
  return new StreamInferReactor(this, o.metrics, o.auth.Check(*context, Access::kRead));
}

}  // namespace strata
