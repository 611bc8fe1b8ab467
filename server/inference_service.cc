#include "server/inference_service.h"

#include <algorithm>
#include <map>
#include <optional>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/data/column_names.h"
#include "core/nn/classifier_head.h"
#include "core/scoring/anomaly.h"
#include "proto/dense_matrix.h"
#include "server/grpc_status.h"
#include "server/inference.h"
#include "server/rpc_call.h"
#include "server/ordered_stream.h"

namespace strata {
namespace {

void SetVersion(const ServableModel& m, v1::ModelVersion* out) {
  out->set_name(m.name);
  out->set_version(m.version);
}

// The model version, rows and op of a request: `rows` resolved against `spec`.
absl::StatusOr<InferenceServiceImpl::Prepared> Resolve(const InferenceServiceImpl::Options& options,
                                                       const v1::ModelSpec& spec,
                                                       const v1::DenseMatrix& dense) {
  absl::StatusOr<ServableModel> m = options.registry->Get(spec);
  if (!m.ok()) return m.status();
  absl::StatusOr<Matrix> rows = FromDenseMatrix(dense, "rows", options.max_request_rows);
  if (!rows.ok()) return rows.status();
  // Checked here, before rows of several requests share one model call.
  if (absl::Status s = CheckColumns(*rows, m->model->input_dim()); !s.ok()) return s;
  if (dense.column_names_size() > 0) {
    if (dense.column_names_size() != dense.cols()) {
      return absl::InvalidArgumentError(
          absl::StrCat("rows.column_names: ", dense.column_names_size(), " names for ",
                       dense.cols(), " columns"));
    }
    // Compared in place: every request from a client that reads names
    // carries them, and only a mismatch needs the copies the message takes.
    const std::vector<std::string>& features = m->model->info().feature_names;
    if (!std::equal(dense.column_names().begin(), dense.column_names().end(), features.begin(),
                    features.end())) {
      const absl::Status s =
          CheckColumnNames({dense.column_names().begin(), dense.column_names().end()}, features);
      return absl::InvalidArgumentError(absl::StrCat("rows.column_names: model ", m->name,
                                                     " version ", m->version, ": ", s.message()));
    }
  }
  InferenceServiceImpl::Prepared p;
  p.model = *std::move(m);
  p.rows = *std::move(rows);
  return p;
}

v1::ScoreOptions::Metric WireMetric(ScoreMetric metric) {
  switch (metric) {
    case ScoreMetric::kMeanSquared:
      return v1::ScoreOptions::MEAN_SQUARED;
    case ScoreMetric::kMeanAbsolute:
      return v1::ScoreOptions::MEAN_ABSOLUTE;
    case ScoreMetric::kCodeDistance:
      return v1::ScoreOptions::CODE_DISTANCE;
    case ScoreMetric::kCombined:
      return v1::ScoreOptions::COMBINED;
    case ScoreMetric::kEnsemble:
      return v1::ScoreOptions::ENSEMBLE;
  }
  return v1::ScoreOptions::METRIC_UNSPECIFIED;
}

// What each bidirectional stream does beyond the shared rules: how a
// message is prepared, what of it the answer needs (Kept), and the answer.
struct ScoreMethod {
  using Request = v1::AnomalyScoreRequest;
  using Response = v1::AnomalyScoreResponse;
  using Kept = v1::ScoreOptions;
  static constexpr const char* kName = "StreamAnomalyScore";
  static absl::StatusOr<InferenceServiceImpl::Prepared> Prepare(const InferenceServiceImpl& service,
                                                                const v1::ModelSpec& spec,
                                                                const Request& request) {
    return service.PrepareScore(spec, request);
  }
  static Kept Keep(const Request& request) { return request.options(); }
  static void Fill(const Kept& options, const ServableModel& m, const InferenceOp& op,
                   const Matrix& out, Response* response) {
    FillScores(m, op, options, out, response);
  }
};

struct PredictMethod {
  using Request = v1::PredictRequest;
  using Response = v1::PredictResponse;
  struct Kept {};
  static constexpr const char* kName = "StreamPredict";
  static absl::StatusOr<InferenceServiceImpl::Prepared> Prepare(const InferenceServiceImpl& service,
                                                                const v1::ModelSpec& spec,
                                                                const Request& request) {
    return service.PreparePredict(spec, request);
  }
  static Kept Keep(const Request&) { return {}; }
  static void Fill(const Kept&, const ServableModel& m, const InferenceOp&, const Matrix& out,
                   Response* response) {
    FillPredictions(m, out, response);
  }
};

// A bidirectional stream (Method: ScoreMethod or PredictMethod): a gRPC
// reactor forwarding its events to a OrderedStream (server/ordered_stream.h),
// which holds the ordering and failure rules, and starting what it answers.
//
// Events arrive on gRPC's and the batcher's threads; the OrderedStream is
// under mu_, and StartRead/StartWrite/Finish are called after mu_ is
// released. request_ belongs to the read path: OnReadDone takes the message
// out of it before the event that may start the next read into it. Deletes
// itself once gRPC is done with it and no model call refers to it.
template <typename Method>
class StreamReactor final
    : public grpc::ServerBidiReactor<typename Method::Request, typename Method::Response> {
 public:
  using Request = typename Method::Request;
  using Response = typename Method::Response;
  static constexpr int kMaxInFlight = 16;

  // `admitted` is the authorization of the call: an error ends it at once.
  StreamReactor(const InferenceServiceImpl* service, const absl::Status& admitted)
      : service_(service), stream_(kMaxInFlight) {
    if (!admitted.ok()) {
      RpcCall call(service_->options().metrics, Method::kName);
      this->Finish(call.Finish(admitted));
      return;
    }
    Actions a;
    {
      MutexLock lock(&mu_);
      a = stream_.Start();
    }
    Run(a);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client has finished sending
      Actions a;
      {
        MutexLock lock(&mu_);
        a = stream_.OnClientDone();
      }
      Run(a);
      return;
    }
    // No other read can start until the event below: the read path's state
    // is used only before it.
    Request request;
    request.Swap(&request_);
    const int64_t index = next_index_++;
    if (index == 0 || !request.model().name().empty()) spec_ = request.model();
    const int64_t rows = request.rows().rows();
    const int64_t first_row = rows_read_;
    rows_read_ += std::max<int64_t>(rows, 0);
    auto call = std::make_shared<RpcCall>(service_->options().metrics, Method::kName);
    absl::StatusOr<InferenceServiceImpl::Prepared> p = Method::Prepare(*service_, spec_, request);
    if (!p.ok()) {
      const absl::Status s = Located(index, first_row, rows, p.status());
      call->Finish(s, {}, rows);
      Actions a;
      {
        MutexLock lock(&mu_);
        a = stream_.OnRefused(index, s);
      }
      Run(a);
      return;
    }
    const ServableModel model = p->model;
    const InferenceOp op = p->op;
    const typename Method::Kept kept = Method::Keep(request);
    Actions a;
    {
      MutexLock lock(&mu_);
      a = stream_.OnRead(index);
    }
    Run(a);  // may start the next read; the reactor lives while computing
    if (service_->options().on_stream_message_for_test) {
      service_->options().on_stream_message_for_test();
    }
    service_->Compute(*std::move(p), [this, index, first_row, call, model, op, kept,
                                      rows](absl::StatusOr<Matrix> errors) {
      Actions a;
      bool destroy;
      if (!errors.ok()) {
        const absl::Status s = Located(index, first_row, rows, errors.status());
        call->Finish(s, {}, rows);
        MutexLock lock(&mu_);
        a = stream_.OnFailure(index, s);
        destroy = stream_.CanDelete();
      } else {
        Response response;
        Method::Fill(kept, model, op, *errors, &response);
        call->Finish(absl::OkStatus(), response.model(), rows);
        MutexLock lock(&mu_);
        a = stream_.OnAnswer(index, std::move(response));
        destroy = stream_.CanDelete();
      }
      Run(a);
      if (destroy) delete this;
    });
  }

  void OnWriteDone(bool ok) override {
    Actions a;
    {
      MutexLock lock(&mu_);
      a = stream_.OnWriteDone(ok);
    }
    Run(a);
  }

  void OnDone() override {
    bool destroy;
    {
      MutexLock lock(&mu_);
      stream_.OnDone();
      destroy = stream_.CanDelete();
    }
    if (destroy) delete this;
  }

 private:
  using Actions = typename OrderedStream<Response>::Actions;

  // `status` of message `index`, whose rows start at row `first_row` of the
  // stream, naming both, so a client that streams its input in order learns
  // where in its input the fault lies.
  static absl::Status Located(int64_t index, int64_t first_row, int64_t rows,
                              const absl::Status& status) {
    return absl::Status(
        status.code(),
        absl::StrCat("stream message ", index, " (",
                     rows > 0 ? absl::StrCat("rows ", first_row, " to ", first_row + rows - 1)
                              : absl::StrCat("from row ", first_row),
                     " of the stream, counting from 0): ", status.message()));
  }

  // Starts what `a` says, without mu_: no lock is held across a reactor
  // call. The write's response lives in stream_ until OnWriteDone, and
  // stream_ lives until OnDone.
  void Run(const Actions& a) ABSL_LOCKS_EXCLUDED(mu_) {
    if (a.write != nullptr) this->StartWrite(a.write);
    if (a.read) {
      this->StartRead(&request_);
      // Only now may the stream finish (another thread may have been about
      // to, and no read may start after Finish).
      Actions started;
      {
        MutexLock lock(&mu_);
        started = stream_.OnReadStarted();
      }
      Run(started);
    }
    if (a.finish.has_value()) this->Finish(ToGrpcStatus(*a.finish));
  }

  const InferenceServiceImpl* const service_;
  // The read path's (one read at a time; see OnReadDone).
  Request request_;
  v1::ModelSpec spec_;
  int64_t next_index_ = 0;
  int64_t rows_read_ = 0;  // rows in the messages read so far

  Mutex mu_;
  OrderedStream<Response> stream_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

// The metric a request asks for, resolved against the model's default.
absl::StatusOr<ScoreMetric> ResolveMetric(const v1::ScoreOptions& options, const Model& model) {
  switch (options.metric()) {
    case v1::ScoreOptions::METRIC_UNSPECIFIED:
      return model.default_metric();
    case v1::ScoreOptions::MEAN_SQUARED:
      return ScoreMetric::kMeanSquared;
    case v1::ScoreOptions::MEAN_ABSOLUTE:
      return ScoreMetric::kMeanAbsolute;
    case v1::ScoreOptions::CODE_DISTANCE:
    case v1::ScoreOptions::COMBINED:
      if (!HasCodeScores(model.info().calibration)) {
        return absl::FailedPreconditionError(absl::StrCat(
            "options.metric ", v1::ScoreOptions::Metric_Name(options.metric()),
            ": this model version was trained before code-distance scores existed; use "
            "MEAN_SQUARED or MEAN_ABSOLUTE, or train a new version"));
      }
      return options.metric() == v1::ScoreOptions::COMBINED ? ScoreMetric::kCombined
                                                            : ScoreMetric::kCodeDistance;
    case v1::ScoreOptions::ENSEMBLE:
      if (!HasEnsembleScore(model.info().calibration)) {
        return absl::FailedPreconditionError(
            "options.metric ENSEMBLE: this model version was trained before the ensemble score "
            "existed; use COMBINED (its default), or train a new version");
      }
      return ScoreMetric::kEnsemble;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("options.metric ", options.metric(), " is unknown"));
  }
}

// Scores, thresholds and percentiles from Model::Score's answer: per-feature
// errors, then the score.
void FillScores(const ServableModel& m, const InferenceOp& op, const v1::ScoreOptions& options,
                const Matrix& scored, v1::AnomalyScoreResponse* response) {
  const v1::ScoreDistribution& distribution = m.model->score_distribution(op.metric);
  SetVersion(m, response->mutable_model());
  response->set_metric(WireMetric(op.metric));
  response->set_threshold(distribution.threshold());
  response->mutable_scores()->Reserve(static_cast<int>(scored.rows()));
  const Eigen::Index features = scored.cols() - 1;
  for (Eigen::Index r = 0; r < scored.rows(); ++r) {
    v1::RowScore* row = response->add_scores();
    const float score = scored(r, features);
    row->set_score(score);
    row->set_is_anomaly(score > distribution.threshold());
    row->set_percentile(static_cast<float>(PercentileOfScore(distribution, score)));
    if (options.feature_errors()) {
      row->mutable_feature_errors()->Add(scored.row(r).data(), scored.row(r).data() + features);
    }
  }
}

// Class probabilities and top classes from Model::Predict's answer.
void FillPredictions(const ServableModel& m, const Matrix& probabilities,
                     v1::PredictResponse* response) {
  SetVersion(m, response->mutable_model());
  const std::vector<std::string>& names = m.model->info().class_names;
  for (const std::string& name : names) response->add_class_names(name);
  const std::vector<int> top = TopClasses(probabilities);
  response->mutable_predictions()->Reserve(static_cast<int>(probabilities.rows()));
  for (Eigen::Index r = 0; r < probabilities.rows(); ++r) {
    v1::RowPrediction* row = response->add_predictions();
    row->mutable_probabilities()->Add(probabilities.row(r).data(),
                                      probabilities.row(r).data() + probabilities.cols());
    row->set_top_index(top[static_cast<size_t>(r)]);
    row->set_top_class(names[static_cast<size_t>(top[static_cast<size_t>(r)])]);
  }
}

InferenceServiceImpl::InferenceServiceImpl(Options options) : options_(options) {
  if (options_.dynamic_batch_rows >= 2) {
    Batcher::Options batcher_options;
    batcher_options.max_rows = options_.dynamic_batch_rows;
    batcher_options.max_delay = options_.dynamic_batch_delay;
    if (ServerMetrics* metrics = options_.metrics; metrics != nullptr) {
      batcher_options.on_batch = [metrics](int64_t rows, int64_t requests) {
        metrics->OnBatch(rows, requests);
      };
    }
    batcher_ = std::make_unique<Batcher>(batcher_options);
  }
  WorkQueue::Options calls;
  calls.threads = options_.model_call_threads > 0
                      ? options_.model_call_threads
                      : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  calls.max_queued = 4096;
  model_calls_ = std::make_unique<WorkQueue>(calls);
}

InferenceServiceImpl::~InferenceServiceImpl() = default;

absl::StatusOr<InferenceServiceImpl::Prepared> InferenceServiceImpl::PrepareEncode(
    const v1::EncodeRequest& request) const {
  absl::StatusOr<Prepared> p = Resolve(options_, request.model(), request.rows());
  if (!p.ok()) return p.status();
  p->op.kind = InferenceOp::Kind::kEncode;
  p->op.layer = request.layer() == 0 ? p->model.model->depth() : request.layer();
  if (absl::Status s = p->model.model->CheckLayer(p->op.layer); !s.ok()) return s;
  return p;
}

absl::StatusOr<InferenceServiceImpl::Prepared> InferenceServiceImpl::PrepareReconstruct(
    const v1::ReconstructRequest& request) const {
  absl::StatusOr<Prepared> p = Resolve(options_, request.model(), request.rows());
  if (!p.ok()) return p.status();
  p->op.kind = InferenceOp::Kind::kReconstruct;
  return p;
}

absl::StatusOr<InferenceServiceImpl::Prepared> InferenceServiceImpl::PrepareScore(
    const v1::ModelSpec& spec, const v1::AnomalyScoreRequest& request) const {
  absl::StatusOr<Prepared> p = Resolve(options_, spec, request.rows());
  if (!p.ok()) return p.status();
  absl::StatusOr<ScoreMetric> metric = ResolveMetric(request.options(), *p->model.model);
  if (!metric.ok()) return metric.status();
  p->op.kind = InferenceOp::Kind::kScore;
  p->op.metric = *metric;
  return p;
}

absl::StatusOr<InferenceServiceImpl::Prepared> InferenceServiceImpl::PreparePredict(
    const v1::ModelSpec& spec, const v1::PredictRequest& request) const {
  absl::StatusOr<Prepared> p = Resolve(options_, spec, request.rows());
  if (!p.ok()) return p.status();
  if (!p->model.model->classifier().has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat("model ", p->model.name, " version ", p->model.version,
                     " has no classifier head: train a version with class labels (label_column or "
                     "class_labels) to predict classes"));
  }
  p->op.kind = InferenceOp::Kind::kPredict;
  return p;
}

void InferenceServiceImpl::Compute(Prepared p, Batcher::Done done) const {
  if (batcher_ != nullptr && p.rows.rows() < batcher_->max_rows()) {
    batcher_->Submit(std::move(p.model), p.op, std::move(p.rows), std::move(done));
    return;
  }
  if (p.rows.rows() * MultiplyAddsPerRow(*p.model.model, p.op) < kInlineMultiplyAdds) {
    done(RunInference(p.model, p.op, p.rows));
    return;
  }
  auto call = std::make_shared<Prepared>(std::move(p));
  auto shared_done = std::make_shared<Batcher::Done>(std::move(done));
  if (!model_calls_->Submit([call, shared_done] {
        (*shared_done)(RunInference(call->model, call->op, call->rows));
      })) {
    (*shared_done)(absl::ResourceExhaustedError(
        "the server has too many model calls waiting; retry with backoff"));
  }
}

template <typename Request, typename Response, typename PrepareFn, typename Respond>
grpc::ServerUnaryReactor* InferenceServiceImpl::Unary(const char* method,
                                                      grpc::CallbackServerContext* context,
                                                      const Request* request, Response* response,
                                                      PrepareFn prepare, Respond respond) {
  auto call = std::make_shared<RpcCall>(options_.metrics, method);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const int64_t rows = request->rows().rows();
  if (absl::Status s = options_.auth.Check(*context, Access::kRead); !s.ok()) {
    reactor->Finish(call->Finish(s));
    return reactor;
  }
  absl::StatusOr<Prepared> prepared = prepare();
  if (!prepared.ok()) {
    reactor->Finish(call->Finish(prepared.status(), {}, rows));
    return reactor;
  }
  const ServableModel model = prepared->model;
  const InferenceOp op = prepared->op;
  // Runs now, or on the batcher's thread: gRPC keeps request and response
  // alive until Finish.
  Compute(*std::move(prepared), [=](absl::StatusOr<Matrix> out) {
    if (out.ok()) respond(model, op, *out);
    reactor->Finish(call->Finish(out.status(), response->model(), rows));
  });
  return reactor;
}

grpc::ServerUnaryReactor* InferenceServiceImpl::Encode(grpc::CallbackServerContext* context,
                                                       const v1::EncodeRequest* request,
                                                       v1::EncodeResponse* response) {
  return Unary(
      "Encode", context, request, response, [&] { return PrepareEncode(*request); },
      [response](const ServableModel& m, const InferenceOp& op, const Matrix& out) {
        SetVersion(m, response->mutable_model());
        response->set_layer(op.layer);
        ToDenseMatrix(out, response->mutable_features());
      });
}

grpc::ServerUnaryReactor* InferenceServiceImpl::Reconstruct(grpc::CallbackServerContext* context,
                                                            const v1::ReconstructRequest* request,
                                                            v1::ReconstructResponse* response) {
  return Unary(
      "Reconstruct", context, request, response, [&] { return PrepareReconstruct(*request); },
      [response](const ServableModel& m, const InferenceOp&, const Matrix& out) {
        SetVersion(m, response->mutable_model());
        ToDenseMatrix(out, response->mutable_reconstructions());
      });
}

grpc::ServerUnaryReactor* InferenceServiceImpl::AnomalyScore(grpc::CallbackServerContext* context,
                                                             const v1::AnomalyScoreRequest* request,
                                                             v1::AnomalyScoreResponse* response) {
  return Unary(
      "AnomalyScore", context, request, response,
      [&] { return PrepareScore(request->model(), *request); },
      [request, response](const ServableModel& m, const InferenceOp& op, const Matrix& errors) {
        FillScores(m, op, request->options(), errors, response);
      });
}

grpc::ServerBidiReactor<v1::AnomalyScoreRequest, v1::AnomalyScoreResponse>*
InferenceServiceImpl::StreamAnomalyScore(grpc::CallbackServerContext* context) {
  return new StreamReactor<ScoreMethod>(this, options_.auth.Check(*context, Access::kRead));
}

grpc::ServerUnaryReactor* InferenceServiceImpl::Predict(grpc::CallbackServerContext* context,
                                                        const v1::PredictRequest* request,
                                                        v1::PredictResponse* response) {
  return Unary(
      "Predict", context, request, response,
      [&] { return PreparePredict(request->model(), *request); },
      [response](const ServableModel& m, const InferenceOp&, const Matrix& out) {
        FillPredictions(m, out, response);
      });
}

grpc::ServerBidiReactor<v1::PredictRequest, v1::PredictResponse>*
InferenceServiceImpl::StreamPredict(grpc::CallbackServerContext* context) {
  return new StreamReactor<PredictMethod>(this, options_.auth.Check(*context, Access::kRead));
}

}  // namespace strata
