// InferenceService: Encode, Reconstruct, AnomalyScore and its bidirectional
// stream, answered by the version the request's ModelSpec selects.
//
// Thread-safe. Each call takes a ServableModel handle for its duration, so a
// hot swap never fails a call in flight.
#ifndef STRATA_SERVER_INFERENCE_SERVICE_H_
#define STRATA_SERVER_INFERENCE_SERVICE_H_

#include <cstdint>

#include "absl/status/status.h"
#include "server/metrics.h"
#include "server/model_registry.h"
#include "strata/v1/service.grpc.pb.h"

namespace strata {

class InferenceServiceImpl final : public v1::InferenceService::CallbackService {
 public:
  struct Options {
    // Where models come from. Required; must outlive the service.
    ModelRegistry* registry = nullptr;
    // Rows allowed in one request (or one stream message). Default 65,536.
    int64_t max_batch_rows = 65536;
    // Request metrics. Default none.
    ServerMetrics* metrics = nullptr;
  };
  explicit InferenceServiceImpl(Options options) : options_(options) {}
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

  // The handlers' logic, shared by the unary calls and the stream.
  absl::Status DoEncode(const v1::EncodeRequest& request, v1::EncodeResponse* response) const;
  absl::Status DoReconstruct(const v1::ReconstructRequest& request,
                             v1::ReconstructResponse* response) const;
  // `spec` overrides request.model (the stream keeps its first spec).
  absl::Status DoAnomalyScore(const v1::ModelSpec& spec, const v1::AnomalyScoreRequest& request,
                              v1::AnomalyScoreResponse* response) const;

 private:
  const Options options_;
};

}  // namespace strata

#endif  // STRATA_SERVER_INFERENCE_SERVICE_H_
