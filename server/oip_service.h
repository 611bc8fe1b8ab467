// OipServiceImpl: the Open Inference Protocol (KServe V2) gRPC service,
// inference.GRPCInferenceService, on strata's own port, with Triton's
// ModelStreamInfer.
//
// A model takes one input, `records` (FP32, [rows, features]), and answers
// the outputs a request names (all of them when it names none): `h1` ...
// `code`, `reconstruction`, `score`, `is_anomaly`, `percentile`,
// `feature_errors`, and for a classifier `probabilities` and `class`. Each is
// computed by the same model call and the same filling code as strata's own
// Encode, Reconstruct, AnomalyScore and Predict (InferenceServiceImpl), so
// the answers are the same bytes; auth, metrics and the drift windows apply
// as to those. docs/open_inference_protocol.md lists the parameters.
//
// Thread-safe.
#ifndef STRATA_SERVER_OIP_SERVICE_H_
#define STRATA_SERVER_OIP_SERVICE_H_

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "inference/open_inference_grpc.grpc.pb.h"
#include "server/inference_service.h"

namespace strata {

class OipServiceImpl final : public inference::GRPCInferenceService::CallbackService {
 public:
  struct Options {
    // Answers the model calls (and holds the registry, metrics and auth).
    // Required; must outlive the service.
    const InferenceServiceImpl* inference = nullptr;
    // Whether the server takes requests: false while it drains. Default:
    // always.
    std::function<bool()> ready;
    // ServerMetadata's version. Default "".
    std::string server_version;
  };
  explicit OipServiceImpl(Options options);

  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* context,
                                       const inference::ServerLiveRequest* request,
                                       inference::ServerLiveResponse* response) override;
  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext* context,
                                        const inference::ServerReadyRequest* request,
                                        inference::ServerReadyResponse* response) override;
  grpc::ServerUnaryReactor* ModelReady(grpc::CallbackServerContext* context,
                                       const inference::ModelReadyRequest* request,
                                       inference::ModelReadyResponse* response) override;
  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext* context,
                                           const inference::ServerMetadataRequest* request,
                                           inference::ServerMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* context,
                                          const inference::ModelMetadataRequest* request,
                                          inference::ModelMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* context,
                                       const inference::ModelInferRequest* request,
                                       inference::ModelInferResponse* response) override;
  grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse>*
  ModelStreamInfer(grpc::CallbackServerContext* context) override;

  // Answers `request` into `response` and calls `done` with the outcome, on
  // whichever thread ran the model call (see InferenceServiceImpl::Compute).
  // `response` must live until then.
  void Infer(const inference::ModelInferRequest& request, inference::ModelInferResponse* response,
             std::function<void(const absl::Status&, const v1::ModelVersion&, int64_t rows)> done)
      const;

 private:
  const Options options_;
};

// The ModelSpec a protocol (name, version) pair selects: an empty version
// is the latest served, digits a version number, anything else a label.
absl::StatusOr<v1::ModelSpec> OipModelSpec(const std::string& name, const std::string& version);

}  // namespace strata

#endif  // STRATA_SERVER_OIP_SERVICE_H_
