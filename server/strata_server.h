// StrataServer: the whole service — store, registry, job pool, strata's three
// gRPC services, the Open Inference Protocol's, health and reflection —
// listening on one address.
//
//   StrataServer::Options options;
//   options.address = "127.0.0.1:0";          // a free port
//   options.model_root = "/var/lib/strata/models";
//   auto server = StrataServer::Create(options);
//   std::cout << server->port();
//   server->Wait();
//
// Thread-safe.
#ifndef STRATA_SERVER_STRATA_SERVER_H_
#define STRATA_SERVER_STRATA_SERVER_H_

#include <grpcpp/server.h>
#include <grpcpp/support/server_interceptor.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/model/model_store.h"
#include "server/auth.h"
#include "server/inference_service.h"
#include "server/metrics.h"
#include "server/model_registry.h"
#include "server/model_service.h"
#include "server/oip_service.h"
#include "server/train_jobs.h"
#include "server/training_service.h"
#include "server/version_policy.h"
#include "server/work_queue.h"

namespace strata {

class StrataServer {
 public:
  using InterceptorFactories =
      std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>;

  struct Options {
    // host:port to listen on; port 0 picks a free one. Default all
    // interfaces, port 50051.
    std::string address = "0.0.0.0:50051";
    // The model store. Required.
    std::string model_root;
    // Directory that TrainJob CSV paths are confined to. Default: none
    // (CSV paths refused).
    std::string data_root;
    // Where row files of CSV training data go (TrainJobManager::Options).
    // Default empty: next to the first shard.
    std::string row_cache_dir;
    // Store polling. Default 2 s.
    absl::Duration poll_interval = absl::Seconds(2);
    // Versions served per model. Default: the latest.
    VersionPolicy version_policy;
    // Rows per inference request. Default 65,536.
    int64_t max_request_rows = 65536;
    // Dynamic batching of small inference requests and stream messages (see
    // InferenceServiceImpl::Options). Default 0: off.
    int64_t dynamic_batch_rows = 0;
    absl::Duration dynamic_batch_delay = absl::Microseconds(200);
    // Training jobs running at once. Default 1.
    int max_concurrent_jobs = 1;
    // Largest training set, in float values. Default 2^28.
    int64_t max_train_values = int64_t{1} << 28;
    // Largest estimated peak memory of one training job, in bytes (see
    // TrainJobManager::Options). Default 0: no limit.
    int64_t max_job_memory_bytes = 0;
    // Training values held by queued jobs together. Default 2^29.
    int64_t max_queued_train_values = int64_t{1} << 29;
    // Largest message received or sent, in bytes. Default 64 MiB.
    int max_message_bytes = 64 << 20;
    // Serve grpc.reflection.v1alpha. Default true.
    bool reflection = true;
    // host:port of the Prometheus /metrics endpoint; port 0 picks a free
    // one. Default empty: no endpoint.
    std::string metrics_address;
    // TLS: PEM files of the server's certificate chain and private key.
    // Default empty: plaintext.
    std::string tls_cert_file;
    std::string tls_key_file;
    // With TLS: a PEM CA bundle; clients must then present a certificate it
    // signed (mutual TLS). Default empty: no client certificates.
    std::string tls_client_ca_file;
    // Bearer-token authorization (see server/auth.h). Default: none.
    Authorizer auth;
    // Records in each model version's drift window. Default 10,000.
    int64_t drift_window_rows = 10000;
    // Features per version exported with drift series. Default 20.
    int drift_max_features = 20;
    // See InferenceServiceImpl::Options. Default none.
    std::function<void()> on_stream_message_for_test;
    // Tests only: makes gRPC server interceptors, called once as the server
    // is built (tests/testing/call_gate.h holds a call at a known point with
    // one). Default none.
    std::function<InterceptorFactories()> interceptors_for_test;
  };

  static absl::StatusOr<std::unique_ptr<StrataServer>> Create(Options options);
  // Shuts down (calls in flight get 5 s) if not done already.
  ~StrataServer();

  int port() const { return port_; }
  // The /metrics port; 0 without an endpoint.
  int metrics_port() const { return metrics_->port(); }
  ServerMetrics* metrics() { return metrics_.get(); }
  ModelRegistry* registry() { return registry_.get(); }
  TrainJobManager* jobs() { return jobs_.get(); }
  // Runs the calls that write the store or job records (SetLabel, Submit,
  // Upload's end, Cancel) off gRPC's callback threads; null after Shutdown.
  WorkQueue* store_work() { return store_work_.get(); }

  // Health flips to NOT_SERVING, new calls are refused, calls in flight get
  // until `deadline`, then running jobs are cancelled.
  void Shutdown(absl::Time deadline);
  // Blocks until Shutdown.
  void Wait();

 private:
  StrataServer() = default;

  std::unique_ptr<ServerMetrics> metrics_;  // outlives everything it reads
  std::unique_ptr<ModelStore> store_;
  std::unique_ptr<ModelRegistry> registry_;
  std::unique_ptr<TrainJobManager> jobs_;
  std::unique_ptr<WorkQueue> store_work_;
  std::unique_ptr<InferenceServiceImpl> inference_;
  std::unique_ptr<TrainingServiceImpl> training_;
  std::unique_ptr<ModelServiceImpl> models_;
  std::unique_ptr<OipServiceImpl> oip_;
  // Set as Shutdown begins: the Open Inference Protocol's ServerReady says
  // false from then on.
  std::atomic<bool> draining_{false};
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::once_flag shutdown_once_;
};

}  // namespace strata

#endif  // STRATA_SERVER_STRATA_SERVER_H_
