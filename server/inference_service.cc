#include "server/inference_service.h"

#include "absl/strings/str_cat.h"
#include "core/anomaly.h"
#include "server/dense_matrix.h"
#include "server/grpc_status.h"

namespace strata {
namespace {

void SetVersion(const ServableModel& m, v1::ModelVersion* out) {
  out->set_name(m.name);
  out->set_version(m.version);
}

// Reads one request, answers it, reads the next: responses keep the order
// of the requests. Deletes itself when the call is done.
class ScoreStreamReactor final
    : public grpc::ServerBidiReactor<v1::AnomalyScoreRequest, v1::AnomalyScoreResponse> {
 public:
  explicit ScoreStreamReactor(const InferenceServiceImpl* service) : service_(service) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client has finished sending
      Finish(grpc::Status::OK);
      return;
    }
    if (message_index_ == 0) spec_ = request_.model();
    if (!request_.model().name().empty()) spec_ = request_.model();
    response_.Clear();
    RpcCall call(service_->options().metrics, "StreamAnomalyScore");
    absl::Status s = service_->DoAnomalyScore(spec_, request_, &response_);
    if (!s.ok()) {
      s = absl::Status(s.code(),
                       absl::StrCat("stream message ", message_index_, ": ", s.message()));
    }
    const grpc::Status status = call.Finish(s, response_.model(), request_.rows().rows());
    if (!s.ok()) {
      Finish(status);
      return;
    }
    ++message_index_;
    StartWrite(&response_);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the client went away"));
      return;
    }
    StartRead(&request_);
  }

  void OnDone() override { delete this; }

 private:
  const InferenceServiceImpl* const service_;
  v1::AnomalyScoreRequest request_;
  v1::AnomalyScoreResponse response_;
  v1::ModelSpec spec_;
  int64_t message_index_ = 0;
};

}  // namespace

absl::Status InferenceServiceImpl::DoEncode(const v1::EncodeRequest& request,
                                            v1::EncodeResponse* response) const {
  absl::StatusOr<ServableModel> m = options_.registry->Get(request.model());
  if (!m.ok()) return m.status();
  absl::StatusOr<Matrix> rows = FromDenseMatrix(request.rows(), "rows", options_.max_batch_rows);
  if (!rows.ok()) return rows.status();
  const int layer = request.layer() == 0 ? m->model->depth() : request.layer();
  absl::StatusOr<Matrix> features = m->model->Encode(*rows, layer);
  if (!features.ok()) return features.status();
  if (m->drift != nullptr) {
    m->drift->Observe(*rows, nullptr, layer == m->model->depth() ? &*features : nullptr);
  }
  SetVersion(*m, response->mutable_model());
  response->set_layer(layer);
  ToDenseMatrix(*features, response->mutable_features());
  return absl::OkStatus();
}

absl::Status InferenceServiceImpl::DoReconstruct(const v1::ReconstructRequest& request,
                                                 v1::ReconstructResponse* response) const {
  absl::StatusOr<ServableModel> m = options_.registry->Get(request.model());
  if (!m.ok()) return m.status();
  absl::StatusOr<Matrix> rows = FromDenseMatrix(request.rows(), "rows", options_.max_batch_rows);
  if (!rows.ok()) return rows.status();
  Matrix code;
  absl::StatusOr<Matrix> out = m->model->Reconstruct(*rows, m->drift ? &code : nullptr);
  if (!out.ok()) return out.status();
  if (m->drift != nullptr) {
    // The error in scaled space, from the two batches in original units.
    Matrix diff = *out - *rows;
    diff.array().rowwise() /= m->model->scaler().scale().array();
    const Eigen::VectorXf mse = diff.array().square().rowwise().mean();
    m->drift->Observe(*rows, &mse, &code);
  }
  SetVersion(*m, response->mutable_model());
  ToDenseMatrix(*out, response->mutable_reconstructions());
  return absl::OkStatus();
}

absl::Status InferenceServiceImpl::DoAnomalyScore(const v1::ModelSpec& spec,
                                                  const v1::AnomalyScoreRequest& request,
                                                  v1::AnomalyScoreResponse* response) const {
  const v1::ScoreOptions::Metric wire_metric = request.options().metric();
  if (!v1::ScoreOptions::Metric_IsValid(wire_metric)) {
    return absl::InvalidArgumentError(absl::StrCat("options.metric ", wire_metric, " is unknown"));
  }
  absl::StatusOr<ServableModel> m = options_.registry->Get(spec);
  if (!m.ok()) return m.status();
  absl::StatusOr<Matrix> rows = FromDenseMatrix(request.rows(), "rows", options_.max_batch_rows);
  if (!rows.ok()) return rows.status();
  const ScoreMetric metric = wire_metric == v1::ScoreOptions::MEAN_ABSOLUTE
                                 ? ScoreMetric::kMeanAbsolute
                                 : ScoreMetric::kMeanSquared;
  Matrix code;
  absl::StatusOr<Matrix> errors =
      m->model->FeatureErrors(*rows, metric, m->drift ? &code : nullptr);
  if (!errors.ok()) return errors.status();
  if (m->drift != nullptr) {
    const Eigen::VectorXf mse = metric == ScoreMetric::kMeanSquared
                                    ? Eigen::VectorXf(errors->rowwise().mean())
                                    : Eigen::VectorXf(errors->array().square().rowwise().mean());
    m->drift->Observe(*rows, &mse, &code);
  }
  const v1::ScoreDistribution& distribution = m->model->score_distribution(metric);
  SetVersion(*m, response->mutable_model());
  response->set_metric(metric == ScoreMetric::kMeanAbsolute ? v1::ScoreOptions::MEAN_ABSOLUTE
                                                            : v1::ScoreOptions::MEAN_SQUARED);
  response->set_threshold(distribution.threshold());
  response->mutable_scores()->Reserve(static_cast<int>(errors->rows()));
  for (Eigen::Index r = 0; r < errors->rows(); ++r) {
    v1::RowScore* row = response->add_scores();
    const float score = errors->row(r).mean();
    row->set_score(score);
    row->set_is_anomaly(score > distribution.threshold());
    row->set_percentile(static_cast<float>(PercentileOfScore(distribution, score)));
    if (request.options().feature_errors()) {
      row->mutable_feature_errors()->Add(errors->row(r).data(),
                                         errors->row(r).data() + errors->cols());
    }
  }
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* InferenceServiceImpl::Encode(grpc::CallbackServerContext* context,
                                                       const v1::EncodeRequest* request,
                                                       v1::EncodeResponse* response) {
  RpcCall call(options_.metrics, "Encode");
  const absl::Status s = DoEncode(*request, response);
  return call.FinishUnary(context, s, response->model(), request->rows().rows());
}

grpc::ServerUnaryReactor* InferenceServiceImpl::Reconstruct(grpc::CallbackServerContext* context,
                                                            const v1::ReconstructRequest* request,
                                                            v1::ReconstructResponse* response) {
  RpcCall call(options_.metrics, "Reconstruct");
  const absl::Status s = DoReconstruct(*request, response);
  return call.FinishUnary(context, s, response->model(), request->rows().rows());
}

grpc::ServerUnaryReactor* InferenceServiceImpl::AnomalyScore(grpc::CallbackServerContext* context,
                                                             const v1::AnomalyScoreRequest* request,
                                                             v1::AnomalyScoreResponse* response) {
  RpcCall call(options_.metrics, "AnomalyScore");
  const absl::Status s = DoAnomalyScore(request->model(), *request, response);
  return call.FinishUnary(context, s, response->model(), request->rows().rows());
}

grpc::ServerBidiReactor<v1::AnomalyScoreRequest, v1::AnomalyScoreResponse>*
InferenceServiceImpl::StreamAnomalyScore(grpc::CallbackServerContext* context) {
  return new ScoreStreamReactor(this);
}

}  // namespace strata
