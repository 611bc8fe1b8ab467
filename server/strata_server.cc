#include "server/strata_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include "absl/strings/str_cat.h"
#include "core/base/file_util.h"
#include "server/log.h"

namespace strata {
namespace {

// Plaintext, TLS, or mutual TLS, from the options' PEM files.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(
    const StrataServer::Options& options) {
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError("TLS needs both a certificate and a key file");
  }
  if (options.tls_cert_file.empty()) {
    if (!options.tls_client_ca_file.empty()) {
      return absl::InvalidArgumentError(
          "a client CA (mutual TLS) needs TLS: give a certificate and a key file");
    }
    return grpc::InsecureServerCredentials();
  }
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  for (auto [path, out] : {std::pair{&options.tls_key_file, &pair.private_key},
                           std::pair{&options.tls_cert_file, &pair.cert_chain}}) {
    absl::StatusOr<std::string> pem = ReadFileToString(*path);
    if (!pem.ok()) return pem.status();
    *out = *std::move(pem);
  }
  grpc::SslServerCredentialsOptions ssl(
      options.tls_client_ca_file.empty()
          ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
          : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  ssl.pem_key_cert_pairs.push_back(std::move(pair));
  if (!options.tls_client_ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadFileToString(options.tls_client_ca_file);
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *std::move(ca);
  }
  return grpc::SslServerCredentials(ssl);
}

constexpr const char* kServices[] = {"strata.v1.InferenceService", "strata.v1.TrainingService",
                                     "strata.v1.ModelService", "inference.GRPCInferenceService"};

}  // namespace

absl::StatusOr<std::unique_ptr<StrataServer>> StrataServer::Create(Options options) {
  std::unique_ptr<StrataServer> s(new StrataServer());
  ServerMetrics::Options metrics_options;
  metrics_options.address = options.metrics_address;
  metrics_options.max_drift_features = options.drift_max_features;
  absl::StatusOr<std::unique_ptr<ServerMetrics>> metrics = ServerMetrics::Create(metrics_options);
  if (!metrics.ok()) return metrics.status();
  s->metrics_ = *std::move(metrics);
  ServerMetrics* m = s->metrics_.get();
  absl::StatusOr<std::unique_ptr<ModelStore>> store = ModelStore::Create({options.model_root});
  if (!store.ok()) return store.status();
  s->store_ = *std::move(store);

  ModelRegistry::Options registry_options;
  registry_options.store = s->store_.get();
  registry_options.policy = options.version_policy;
  registry_options.poll_interval = options.poll_interval;
  registry_options.drift_window_rows = options.drift_window_rows;
  registry_options.on_event = [m](const VersionEvent& e) { m->OnVersionEvent(e); };
  absl::StatusOr<std::unique_ptr<ModelRegistry>> registry =
      ModelRegistry::Create(std::move(registry_options));
  if (!registry.ok()) return registry.status();
  s->registry_ = *std::move(registry);

  TrainJobManager::Options job_options;
  job_options.store = s->store_.get();
  job_options.registry = s->registry_.get();
  job_options.max_concurrent_jobs = options.max_concurrent_jobs;
  job_options.data_root = options.data_root;
  job_options.row_cache_dir = options.row_cache_dir;
  job_options.max_train_values = options.max_train_values;
  job_options.max_job_memory_bytes = options.max_job_memory_bytes;
  job_options.max_queued_values = options.max_queued_train_values;
  // Not a model: names starting with '.' are never models. A replica that
  // does not train leaves the records to the one that does (it would
  // otherwise mark that replica's running jobs as interrupted).
  if (options.max_concurrent_jobs > 0) job_options.records_dir = options.model_root + "/.jobs";
  job_options.on_finish = [m](const v1::TrainJob& job) { m->OnJobFinished(job); };
  absl::StatusOr<std::unique_ptr<TrainJobManager>> jobs = TrainJobManager::Create(job_options);
  if (!jobs.ok()) return jobs.status();
  s->jobs_ = *std::move(jobs);

  if (options.max_request_rows < 1) {
    return absl::InvalidArgumentError("max_request_rows must be >= 1");
  }
  s->metrics_->Attach(s->registry_.get(), s->jobs_.get());
  if (options.dynamic_batch_rows == 1 || options.dynamic_batch_rows < 0 ||
      options.dynamic_batch_delay < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "dynamic_batch_rows must be 0 (off) or >= 2, and dynamic_batch_delay >= 0");
  }
  InferenceServiceImpl::Options inference_options;
  inference_options.registry = s->registry_.get();
  inference_options.max_request_rows = options.max_request_rows;
  inference_options.metrics = m;
  inference_options.dynamic_batch_rows = options.dynamic_batch_rows;
  inference_options.dynamic_batch_delay = options.dynamic_batch_delay;
  inference_options.auth = options.auth;
  inference_options.on_stream_message_for_test = options.on_stream_message_for_test;
  s->inference_ = std::make_unique<InferenceServiceImpl>(inference_options);
  // One thread: these calls wait on the disk, in the order they came.
  s->store_work_ = std::make_unique<WorkQueue>(WorkQueue::Options{1, 256});
  TrainingServiceImpl::Options training_options;
  training_options.jobs = s->jobs_.get();
  training_options.store_work = s->store_work_.get();
  training_options.max_train_values = options.max_train_values;
  training_options.metrics = m;
  training_options.auth = options.auth;
  s->training_ = std::make_unique<TrainingServiceImpl>(training_options);
  s->models_ = std::make_unique<ModelServiceImpl>(
      ModelServiceImpl::Options{s->registry_.get(), m, options.auth, s->store_work_.get()});
  OipServiceImpl::Options oip_options;
  oip_options.inference = s->inference_.get();
  StrataServer* server = s.get();
  oip_options.ready = [server] { return !server->draining_.load(); };
  oip_options.server_version = STRATA_VERSION;
  s->oip_ = std::make_unique<OipServiceImpl>(std::move(oip_options));
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials = ServerCredentials(options);
  if (!credentials.ok()) return credentials.status();

  grpc::EnableDefaultHealthCheckService(true);
  if (options.reflection) grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.address, *credentials, &s->port_);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  builder.RegisterService(s->inference_.get());
  builder.RegisterService(s->training_.get());
  builder.RegisterService(s->models_.get());
  builder.RegisterService(s->oip_.get());
  if (options.interceptors_for_test) {
    builder.experimental().SetInterceptorCreators(options.interceptors_for_test());
  }
  s->server_ = builder.BuildAndStart();
  if (s->server_ == nullptr || s->port_ == 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", options.address,
        options.tls_cert_file.empty()
            ? ""
            : " with the given TLS certificate and key (are they PEM, and a matching pair?)"));
  }
  grpc::HealthCheckServiceInterface* health = s->server_->GetHealthCheckService();
  health->SetServingStatus("", true);
  for (const char* service : kServices) health->SetServingStatus(service, true);
  Log(LogLevel::kInfo, "server",
      absl::StrCat(
          "serving on ", options.address.substr(0, options.address.rfind(':')), ":", s->port_,
          " from ", options.model_root, " (versions: ", options.version_policy.ToString(), ")",
          s->metrics_->port() ? absl::StrCat("; /metrics on port ", s->metrics_->port()) : ""));
  return s;
}

StrataServer::~StrataServer() { Shutdown(absl::Now() + absl::Seconds(5)); }

void StrataServer::Shutdown(absl::Time deadline) {
  std::call_once(shutdown_once_, [&] {
    draining_ = true;
    if (server_ != nullptr) {
      grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
      health->SetServingStatus("", false);
      for (const char* service : kServices) health->SetServingStatus(service, false);
      server_->Shutdown(absl::ToChronoTime(deadline));
    }
    // Also when Create failed after Attach (the port taken, say): the
    // /metrics thread must stop reading the registry and jobs before the
    // members below metrics_ are destroyed.
    if (metrics_ != nullptr) metrics_->Attach(nullptr, nullptr);
    // Every call has finished by now (gRPC's Shutdown waits for them), so
    // nothing is queued: this joins the thread before jobs_ goes.
    store_work_.reset();
    jobs_.reset();  // cancels and joins the training workers
  });
}

void StrataServer::Wait() {
  if (server_ != nullptr) server_->Wait();
}

}  // namespace strata
