// StrataClient: a C++ client for strata-server, used by the CLI and the
// benchmarks. It depends only on the wire contract (proto/).
//
//   auto client = StrataClient::Create({"127.0.0.1:50051"});
//   v1::EncodeRequest request;
//   request.mutable_model()->set_name("thyroid");
//   ... fill request.mutable_rows() ...
//   absl::StatusOr<v1::EncodeResponse> codes = client->Encode(request);
//
// Failed calls come back as absl::Status with the server's code and message;
// a call that finds nothing listening at the target is UNAVAILABLE "no
// strata-server answers at <target>".
// Thread-safe.
#ifndef STRATA_CLIENT_STRATA_CLIENT_H_
#define STRATA_CLIENT_STRATA_CLIENT_H_

#include <grpcpp/channel.h>

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "strata/v1/service.grpc.pb.h"

namespace strata {

class StrataClient {
 public:
  struct Options {
    // host:port of the server. Default 127.0.0.1:50051.
    std::string target = "127.0.0.1:50051";
    // Deadline of each unary call (not of uploads and watches). Default 60 s.
    absl::Duration timeout = absl::Seconds(60);
    // Largest message sent or received. Default 64 MiB.
    int max_message_bytes = 64 << 20;
    // Sent as 'authorization: Bearer <token>' on every call. Default none.
    std::string token;
    // TLS: a PEM CA bundle that signed the server's certificate. Default
    // empty: plaintext (unless use_tls, which then trusts the system roots).
    std::string tls_ca_file;
    bool use_tls = false;
    // Mutual TLS: the client's PEM certificate chain and key.
    std::string tls_cert_file;
    std::string tls_key_file;
    // Follows "no strata-server answers at <target>" when a call finds
    // nothing listening there, e.g. how to name another server. Default none.
    std::string unreachable_hint;
  };
  static absl::StatusOr<std::unique_ptr<StrataClient>> Create(Options options);
  // Whether `status` is the UNAVAILABLE "no strata-server answers at
  // <target>" of a call that found nothing listening there.
  static bool IsUnreachable(const absl::Status& status);

  absl::StatusOr<v1::EncodeResponse> Encode(const v1::EncodeRequest& request);
  absl::StatusOr<v1::ReconstructResponse> Reconstruct(const v1::ReconstructRequest& request);
  absl::StatusOr<v1::AnomalyScoreResponse> AnomalyScore(const v1::AnomalyScoreRequest& request);
  // Sends `next()` requests down one stream until it returns false, handing
  // each response (in order) to `on_response`. Requests are sent ahead of the
  // responses: `next` runs on a thread of its own, concurrently with
  // `on_response` (each is called from one thread only).
  absl::Status StreamAnomalyScore(
      const std::function<bool(v1::AnomalyScoreRequest*)>& next,
      const std::function<void(const v1::AnomalyScoreResponse&)>& on_response);

  absl::StatusOr<v1::PredictResponse> Predict(const v1::PredictRequest& request);
  // As StreamAnomalyScore, for class predictions.
  absl::Status StreamPredict(const std::function<bool(v1::PredictRequest*)>& next,
                             const std::function<void(const v1::PredictResponse&)>& on_response);

  absl::StatusOr<v1::TrainJob> SubmitTrainJob(const v1::SubmitTrainJobRequest& request);
  // Uploads rows x cols row-major floats in chunks of about 1 MiB.
  absl::StatusOr<v1::TrainJob> UploadTrainJob(const v1::TrainJobSpec& spec, const float* values,
                                              int64_t rows, int32_t cols);
  absl::StatusOr<v1::TrainJob> GetTrainJob(const std::string& id);
  absl::StatusOr<v1::TrainJob> CancelTrainJob(const std::string& id);
  absl::StatusOr<v1::ListTrainJobsResponse> ListTrainJobs(const std::string& model_name);
  // Follows a job until it ends, calling `on_update` on every change; returns
  // its final state.
  absl::StatusOr<v1::TrainJob> WatchTrainJob(
      const std::string& id, const std::function<void(const v1::TrainJob&)>& on_update);

  absl::StatusOr<v1::ListModelsResponse> ListModels();
  absl::StatusOr<v1::GetModelResponse> GetModel(const v1::ModelSpec& spec);
  absl::StatusOr<v1::DriftReportResponse> DriftReport(const v1::ModelSpec& spec);
  absl::StatusOr<v1::SetLabelResponse> SetLabel(const std::string& model_name,
                                                const std::string& label, int64_t version);

  // grpc.health.v1 Check of `service` ("" = the whole server) with a
  // deadline of `timeout`. Never sends the token: health checks need none.
  absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus> Health(
      const std::string& service, absl::Duration timeout);

 private:
  explicit StrataClient(Options options, std::shared_ptr<grpc::Channel> channel);
  // Adds the token, and the deadline of unary calls when `deadline`.
  void Prepare(grpc::ClientContext* context, bool deadline = true) const;
  // The one grpc::Status to absl::Status conversion: the same code and
  // message, except for a refused connection, which names the target.
  absl::Status FromGrpc(const grpc::Status& s) const;
  template <typename Response>
  absl::StatusOr<Response> Done(const grpc::Status& s, Response response) const;
  // A bidirectional stream opened by `open(context)`, as StreamAnomalyScore.
  template <typename Request, typename Response, typename Open>
  absl::Status Stream(Open open, const std::function<bool(Request*)>& next,
                      const std::function<void(const Response&)>& on_response);

  const Options options_;
  const std::shared_ptr<grpc::Channel> channel_;
  const std::unique_ptr<v1::InferenceService::Stub> inference_;
  const std::unique_ptr<v1::TrainingService::Stub> training_;
  const std::unique_ptr<v1::ModelService::Stub> models_;
  const std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

}  // namespace strata

#endif  // STRATA_CLIENT_STRATA_CLIENT_H_
