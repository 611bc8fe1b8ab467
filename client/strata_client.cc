#include "client/strata_client.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace strata {
namespace {

// Begins the status of a call that found nothing listening at the target.
constexpr char kUnreachable[] = "no strata-server answers at ";

// The whole of a (PEM) file; the client library does not link core/.
absl::StatusOr<std::string> ReadPem(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  if (content.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is empty or missing"));
  }
  return content;
}

// Plaintext, TLS or mutual TLS, from the options' PEM files.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentials(
    const StrataClient::Options& options) {
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "a client certificate needs its key, and a key its certificate");
  }
  const bool tls =
      options.use_tls || !options.tls_ca_file.empty() || !options.tls_cert_file.empty();
  if (!tls) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions ssl;
  for (auto [path, out] : {std::pair{&options.tls_ca_file, &ssl.pem_root_certs},
                           std::pair{&options.tls_cert_file, &ssl.pem_cert_chain},
                           std::pair{&options.tls_key_file, &ssl.pem_private_key}}) {
    if (path->empty()) continue;
    absl::StatusOr<std::string> pem = ReadPem(*path);
    if (!pem.ok()) return pem.status();
    *out = *std::move(pem);
  }
  return grpc::SslCredentials(ssl);
}

}  // namespace

absl::Status StrataClient::FromGrpc(const grpc::Status& s) const {
  if (s.ok()) return absl::OkStatus();
  // gRPC words a refused connection as "connections to all backends
  // failing; last error: ... Connection refused" (the OS's text, also
  // under other load-balancing policies): the fault is that no server
  // listens, which a user fixes by starting one or by naming the right
  // one. Other failures to connect (TLS handshakes, DNS) keep gRPC's words.
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE &&
      absl::StrContains(s.error_message(), "Connection refused")) {
    return absl::UnavailableError(absl::StrCat(kUnreachable, options_.target,
                                               options_.unreachable_hint.empty() ? "" : "; ",
                                               options_.unreachable_hint));
  }
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

bool StrataClient::IsUnreachable(const absl::Status& status) {
  return absl::IsUnavailable(status) && absl::StartsWith(status.message(), kUnreachable);
}

template <typename Response>
absl::StatusOr<Response> StrataClient::Done(const grpc::Status& s, Response response) const {
  if (!s.ok()) return FromGrpc(s);
  return response;
}

absl::StatusOr<std::unique_ptr<StrataClient>> StrataClient::Create(Options options) {
  if (options.target.empty()) return absl::InvalidArgumentError("the server address is empty");
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_message_bytes);
  args.SetMaxSendMessageSize(options.max_message_bytes);
  // Per-call balancing over every address the target resolves to (e.g.
  // dns:///strata-headless:50051 in Kubernetes); one address: no change.
  args.SetLoadBalancingPolicyName("round_robin");
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      ChannelCredentials(options);
  if (!credentials.ok()) return credentials.status();
  auto channel = grpc::CreateCustomChannel(options.target, *credentials, args);
  return std::unique_ptr<StrataClient>(new StrataClient(std::move(options), std::move(channel)));
}

StrataClient::StrataClient(Options options, std::shared_ptr<grpc::Channel> channel)
    : options_(std::move(options)),
      channel_(std::move(channel)),
      inference_(v1::InferenceService::NewStub(channel_)),
      training_(v1::TrainingService::NewStub(channel_)),
      models_(v1::ModelService::NewStub(channel_)),
      health_(grpc::health::v1::Health::NewStub(channel_)) {}

void StrataClient::Prepare(grpc::ClientContext* context, bool deadline) const {
  if (deadline) context->set_deadline(absl::ToChronoTime(absl::Now() + options_.timeout));
  if (!options_.token.empty()) context->AddMetadata("authorization", "Bearer " + options_.token);
}

absl::StatusOr<v1::EncodeResponse> StrataClient::Encode(const v1::EncodeRequest& request) {
  grpc::ClientContext context;
  Prepare(&context);
  v1::EncodeResponse response;
  const grpc::Status status = inference_->Encode(&context, request, &response);
  return Done(status, std::move(response));
}

absl::StatusOr<v1::ReconstructResponse> StrataClient::Reconstruct(
    const v1::ReconstructRequest& request) {
  grpc::ClientContext context;
  Prepare(&context);
  v1::ReconstructResponse response;
  const grpc::Status status = inference_->Reconstruct(&context, request, &response);
  return Done(status, std::move(response));
}

absl::StatusOr<v1::AnomalyScoreResponse> StrataClient::AnomalyScore(
    const v1::AnomalyScoreRequest& request) {
  grpc::ClientContext context;
  Prepare(&context);
  v1::AnomalyScoreResponse response;
  const grpc::Status status = inference_->AnomalyScore(&context, request, &response);
  return Done(status, std::move(response));
}

template <typename Request, typename Response, typename Open>
absl::Status StrataClient::Stream(Open open, const std::function<bool(Request*)>& next,
                                  const std::function<void(const Response&)>& on_response) {
  grpc::ClientContext context;
  Prepare(&context, /*deadline=*/false);
  auto stream = open(&context);
  // Requests go out on their own thread, ahead of the answers, so that the
  // server always has the next messages at hand (it reads ahead and batches);
  // gRPC's flow control bounds how far ahead.
  std::thread writer([&] {
    Request request;
    while (true) {
      request.Clear();
      if (!next(&request) || !stream->Write(request)) break;
    }
    stream->WritesDone();
  });
  Response response;
  while (stream->Read(&response)) on_response(response);
  writer.join();
  return FromGrpc(stream->Finish());
}

absl::Status StrataClient::StreamAnomalyScore(
    const std::function<bool(v1::AnomalyScoreRequest*)>& next,
    const std::function<void(const v1::AnomalyScoreResponse&)>& on_response) {
  return Stream<v1::AnomalyScoreRequest, v1::AnomalyScoreResponse>(
      [this](grpc::ClientContext* c) { return inference_->StreamAnomalyScore(c); }, next,
      on_response);
}

absl::StatusOr<v1::PredictResponse> StrataClient::Predict(const v1::PredictRequest& request) {
  grpc::ClientContext context;
  Prepare(&context);
  v1::PredictResponse response;
  const grpc::Status status = inference_->Predict(&context, request, &response);
  return Done(status, std::move(response));
}

absl::Status StrataClient::StreamPredict(
    const std::function<bool(v1::PredictRequest*)>& next,
    const std::function<void(const v1::PredictResponse&)>& on_response) {
  return Stream<v1::PredictRequest, v1::PredictResponse>(
      [this](grpc::ClientContext* c) { return inference_->StreamPredict(c); }, next, on_response);
}

absl::StatusOr<v1::TrainJob> StrataClient::SubmitTrainJob(
    const v1::SubmitTrainJobRequest& request) {
  grpc::ClientContext context;
  Prepare(&context);
  v1::TrainJob job;
  const grpc::Status status = training_->SubmitTrainJob(&context, request, &job);
  return Done(status, std::move(job));
}

absl::StatusOr<v1::TrainJob> StrataClient::UploadTrainJob(const v1::TrainJobSpec& spec,
                                                          const float* values, int64_t rows,
                                                          int32_t cols) {
  if (cols <= 0 || rows <= 0) return absl::InvalidArgumentError("no rows to upload");
  grpc::ClientContext context;
  Prepare(&context, /*deadline=*/false);
  v1::TrainJob job;
  auto writer = training_->UploadTrainJob(&context, &job);
  v1::UploadTrainJobRequest message;
  *message.mutable_spec() = spec;
  bool ok = writer->Write(message);
  const int64_t chunk_rows = std::max<int64_t>(1, (1 << 18) / cols);  // ~1 MiB of floats
  for (int64_t start = 0; ok && start < rows; start += chunk_rows) {
    const int64_t n = std::min(chunk_rows, rows - start);
    message.Clear();
    v1::DenseMatrix* chunk = message.mutable_chunk();
    chunk->set_rows(static_cast<int32_t>(n));
    chunk->set_cols(cols);
    chunk->mutable_values()->Add(values + start * cols, values + (start + n) * cols);
    ok = writer->Write(message);
  }
  writer->WritesDone();
  const grpc::Status status = writer->Finish();
  return Done(status, std::move(job));
}

absl::StatusOr<v1::TrainJob> StrataClient::GetTrainJob(const std::string& id) {
  grpc::ClientContext context;
  Prepare(&context);
  v1::GetTrainJobRequest request;
  request.set_id(id);
  v1::TrainJob job;
  const grpc::Status status = training_->GetTrainJob(&context, request, &job);
  return Done(status, std::move(job));
}

absl::StatusOr<v1::TrainJob> StrataClient::CancelTrainJob(const std::string& id) {
  grpc::ClientContext context;
  Prepare(&context);
  v1::CancelTrainJobRequest request;
  request.set_id(id);
  v1::TrainJob job;
  const grpc::Status status = training_->CancelTrainJob(&context, request, &job);
  return Done(status, std::move(job));
}

absl::StatusOr<v1::ListTrainJobsResponse> StrataClient::ListTrainJobs(
    const std::string& model_name) {
  grpc::ClientContext context;
  Prepare(&context);
  v1::ListTrainJobsRequest request;
  request.set_model_name(model_name);
  v1::ListTrainJobsResponse response;
  const grpc::Status status = training_->ListTrainJobs(&context, request, &response);
  return Done(status, std::move(response));
}

absl::StatusOr<v1::TrainJob> StrataClient::WatchTrainJob(
    const std::string& id, const std::function<void(const v1::TrainJob&)>& on_update) {
  grpc::ClientContext context;
  Prepare(&context, /*deadline=*/false);
  v1::GetTrainJobRequest request;
  request.set_id(id);
  auto reader = training_->WatchTrainJob(&context, request);
  v1::TrainJob job, last;
  while (reader->Read(&job)) {
    on_update(job);
    last = job;
  }
  const grpc::Status status = reader->Finish();
  return Done(status, std::move(last));
}

absl::StatusOr<v1::ListModelsResponse> StrataClient::ListModels() {
  grpc::ClientContext context;
  Prepare(&context);
  v1::ListModelsResponse response;
  const grpc::Status status = models_->ListModels(&context, v1::ListModelsRequest(), &response);
  return Done(status, std::move(response));
}

absl::StatusOr<v1::GetModelResponse> StrataClient::GetModel(const v1::ModelSpec& spec) {
  grpc::ClientContext context;
  Prepare(&context);
  v1::GetModelRequest request;
  *request.mutable_model() = spec;
  v1::GetModelResponse response;
  const grpc::Status status = models_->GetModel(&context, request, &response);
  return Done(status, std::move(response));
}

absl::StatusOr<v1::DriftReportResponse> StrataClient::DriftReport(const v1::ModelSpec& spec) {
  grpc::ClientContext context;
  Prepare(&context);
  v1::DriftReportRequest request;
  *request.mutable_model() = spec;
  v1::DriftReportResponse response;
  const grpc::Status status = models_->DriftReport(&context, request, &response);
  return Done(status, std::move(response));
}

absl::StatusOr<v1::SetLabelResponse> StrataClient::SetLabel(const std::string& model_name,
                                                            const std::string& label,
                                                            int64_t version) {
  grpc::ClientContext context;
  Prepare(&context);
  v1::SetLabelRequest request;
  request.set_model_name(model_name);
  request.set_label(label);
  request.set_version(version);
  v1::SetLabelResponse response;
  const grpc::Status status = models_->SetLabel(&context, request, &response);
  return Done(status, std::move(response));
}

absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus> StrataClient::Health(
    const std::string& service, absl::Duration timeout) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status status = health_->Check(&context, request, &response);
  if (!status.ok()) return FromGrpc(status);
  return response.status();
}

}  // namespace strata
