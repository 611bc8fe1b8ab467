// InferenceService: Encode, Reconstruct, AnomalyScore and Predict, and the
// bidirectional streams of the last two, answered by the version the
// request's ModelSpec selects.
//
// Thread-safe. Each call takes a ServableModel handle for its duration, so a
// hot swap never fails a call in flight.
#ifndef STRATA_SERVER_INFERENCE_SERVICE_H_
#define STRATA_SERVER_INFERENCE_SERVICE_H_

#include <cstdint>
#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/auth.h"
#include "server/batcher.h"
#include "server/inference.h"
#include "server/metrics.h"
#include "server/model_registry.h"
#include "server/work_queue.h"
#include "strata/v1/service.grpc.pb.h"

namespace strata {

class InferenceServiceImpl final : public v1::InferenceService::CallbackService {
 public:
  struct Options {
    // Where models come from. Required; must outlive the service.
    ModelRegistry* registry = nullptr;
    // Rows allowed in one request (or one stream message). Default 65,536.
    int64_t max_request_rows = 65536;
    // Request metrics. Default none.
    ServerMetrics* metrics = nullptr;
    // Dynamic batching: requests and stream messages with fewer rows than
    // this, on the same version and op, share one model call of up to this
    // many rows. Default 0: off (each request is its own call).
    int64_t dynamic_batch_rows = 0;
    // How long a request may wait for others to share its call.
    absl::Duration dynamic_batch_delay = absl::Microseconds(200);
    // Who may call (every method here is a read). Default: everyone.
    Authorizer auth;
    // Threads for model calls too large to run on gRPC's callback thread
    // (see Compute). Default 0: one per core.
    int model_call_threads = 0;
    // Called on a score stream's read path once a message is handed to its
    // model call, where the next read may already have started: tests widen
    // that window with it to expose races. Default none.
    std::function<void()> on_stream_message_for_test;
  };
  explicit InferenceServiceImpl(Options options);
  ~InferenceServiceImpl() override;
  const Options& options() const { return options_; }

  grpc::ServerUnaryReactor* Encode(grpc::CallbackServerContext* context,
                                   const v1::EncodeRequest* request,
                                   v1::EncodeResponse* response) override;
  grpc::ServerUnaryReactor* Reconstruct(grpc::CallbackServerContext* context,
                                        const v1::ReconstructRequest* request,
                                        v1::ReconstructResponse* response) override;
  grpc::ServerUnaryReactor* AnomalyScore(grpc::CallbackServerContext* context,
                                         const v1::AnomalyScoreRequest* request,
                                         v1::AnomalyScoreResponse* response) override;
  grpc::ServerBidiReactor<v1::AnomalyScoreRequest, v1::AnomalyScoreResponse>* StreamAnomalyScore(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* Predict(grpc::CallbackServerContext* context,
                                    const v1::PredictRequest* request,
                                    v1::PredictResponse* response) override;
  grpc::ServerBidiReactor<v1::PredictRequest, v1::PredictResponse>* StreamPredict(
      grpc::CallbackServerContext* context) override;

  // A validated request: the version that answers, its rows, what to compute.
  struct Prepared {
    ServableModel model;
    Matrix rows;
    InferenceOp op;
  };
  absl::StatusOr<Prepared> PrepareEncode(const v1::EncodeRequest& request) const;
  absl::StatusOr<Prepared> PrepareReconstruct(const v1::ReconstructRequest& request) const;
  // `spec` overrides request.model (a stream keeps its first spec).
  absl::StatusOr<Prepared> PrepareScore(const v1::ModelSpec& spec,
                                        const v1::AnomalyScoreRequest& request) const;
  // FailedPrecondition for a version without a classifier head.
  absl::StatusOr<Prepared> PreparePredict(const v1::ModelSpec& spec,
                                          const v1::PredictRequest& request) const;
  // Runs the model call: small requests are batched (with a batcher) and
  // the rest, unless they are so small that a thread hop costs more than
  // the call, run on the model-call threads, so that gRPC's callback
  // threads never hold a large call. `done` gets the result on whichever
  // thread ran it (ResourceExhausted when too many calls are waiting).
  void Compute(Prepared p, Batcher::Done done) const;

  // Multiply-adds below which a call runs inline on the calling thread:
  // 2^20, tens of microseconds on one core, about what handing it to
  // another thread and back costs (a one-row Encode of the serving
  // benchmark's model is ~10^4).
  static constexpr int64_t kInlineMultiplyAdds = int64_t{1} << 20;

 private:
  // Authorizes, prepares (`prepare()` -> StatusOr<Prepared>), computes and
  // answers with `respond`.
  template <typename Request, typename Response, typename PrepareFn, typename Respond>
  grpc::ServerUnaryReactor* Unary(const char* method, grpc::CallbackServerContext* context,
                                  const Request* request, Response* response, PrepareFn prepare,
                                  Respond respond);

  const Options options_;
  std::unique_ptr<Batcher> batcher_;
  std::unique_ptr<WorkQueue> model_calls_;
};

// The metric `options` asks for, resolved against the model's default:
// FailedPrecondition for a metric the version was trained without.
absl::StatusOr<ScoreMetric> ResolveMetric(const v1::ScoreOptions& options, const Model& model);

// The answers of strata's own RPCs from a model call's output (RunInference):
// scores, thresholds, percentiles and (options.feature_errors) per-feature
// errors; class probabilities and top classes. The one place each is
// computed, so that every protocol answers the same bytes.
void FillScores(const ServableModel& m, const InferenceOp& op, const v1::ScoreOptions& options,
                const Matrix& scored, v1::AnomalyScoreResponse* response);
void FillPredictions(const ServableModel& m, const Matrix& probabilities,
                     v1::PredictResponse* response);

}  // namespace strata

#endif  // STRATA_SERVER_INFERENCE_SERVICE_H_
