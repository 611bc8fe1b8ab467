// ServerMetrics: strata-server's Prometheus metrics, served on /metrics.
//
// Counters and histograms (RPCs, model loads, training jobs) are updated as
// things happen. Figures derived from state — drift per model version,
// loaded versions, labels, jobs by state — are computed when Prometheus
// scrapes, so the request path only feeds the drift windows.
//
//   auto metrics = ServerMetrics::Create({"127.0.0.1:9464"});
//   metrics->Attach(registry, jobs);  // read at scrape time
//
// Handlers record their requests through RpcCall (server/rpc_call.h).
//
// Thread-safe.
#ifndef STRATA_SERVER_METRICS_H_
#define STRATA_SERVER_METRICS_H_

#include <grpcpp/support/status.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/base/mutex.h"
#include "server/model_registry.h"
#include "server/train_jobs.h"

namespace prometheus {
class Exposer;
class Registry;
class Collectable;
}  // namespace prometheus

namespace strata {

class ServerMetrics {
 public:
  struct Options {
    // host:port of the /metrics endpoint; port 0 picks a free one. Default
    // empty: no endpoint (Scrape() still works).
    std::string address;
    // Features per model version exported with drift series (the most
    // drifted); bounds label cardinality. Default 20.
    int max_drift_features = 20;
  };
  static absl::StatusOr<std::unique_ptr<ServerMetrics>> Create(Options options);
  ~ServerMetrics();

  // The port /metrics listens on; 0 without an endpoint.
  int port() const { return port_; }
  // Sources read at scrape time; null detaches (before they are destroyed).
  void Attach(const ModelRegistry* registry, const TrainJobManager* jobs);

  void RpcStarted(const std::string& method);
  void RpcFinished(const std::string& method, const v1::ModelVersion& model, grpc::StatusCode code,
                   absl::Duration duration, int64_t rows);
  void OnVersionEvent(const VersionEvent& event);
  void OnJobFinished(const v1::TrainJob& job);
  // One model call of the dynamic batcher: its rows, and the requests it answered.
  void OnBatch(int64_t rows, int64_t requests);

  // Everything in Prometheus' text format, as /metrics serves it.
  std::string Scrape() const;
  // Where more metrics go to be served on the same /metrics (strata-stream's).
  prometheus::Registry& registry() { return *registry_; }

 private:
  class Instruments;
  class StateCollector;
  explicit ServerMetrics(Options options);

  const Options options_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Instruments> instruments_;
  std::shared_ptr<StateCollector> collector_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
};

}  // namespace strata

#endif  // STRATA_SERVER_METRICS_H_
