#include "server/metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/metrics_state.h"

namespace strata {
namespace {

using prometheus::MetricFamily;

const char* CodeName(grpc::StatusCode code) {
  static const char* kNames[] = {"OK",
                                 "CANCELLED",
                                 "UNKNOWN",
                                 "INVALID_ARGUMENT",
                                 "DEADLINE_EXCEEDED",
                                 "NOT_FOUND",
                                 "ALREADY_EXISTS",
                                 "PERMISSION_DENIED",
                                 "RESOURCE_EXHAUSTED",
                                 "FAILED_PRECONDITION",
                                 "ABORTED",
                                 "OUT_OF_RANGE",
                                 "UNIMPLEMENTED",
                                 "INTERNAL",
                                 "UNAVAILABLE",
                                 "DATA_LOSS",
                                 "UNAUTHENTICATED"};
  const int i = static_cast<int>(code);
  return i >= 0 && i < 17 ? kNames[i] : "UNKNOWN";
}

}  // namespace

// Metrics updated as events happen.
class ServerMetrics::Instruments {
 public:
  explicit Instruments(prometheus::Registry& r)
      : requests(prometheus::BuildCounter()
                     .Name("strata_rpc_requests_total")
                     .Help("RPCs (and stream messages) answered, by method, model, version and "
                           "status code.")
                     .Register(r)),
        duration(prometheus::BuildHistogram()
                     .Name("strata_rpc_duration_seconds")
                     .Help("Time to answer an RPC (or stream message), by method.")
                     .Register(r)),
        rows(prometheus::BuildCounter()
                 .Name("strata_rpc_rows_total")
                 .Help("Records processed by inference RPCs, by method and model.")
                 .Register(r)),
        in_flight(prometheus::BuildGauge()
                      .Name("strata_rpc_in_flight")
                      .Help("RPCs being answered now, by method.")
                      .Register(r)),
        load_duration(prometheus::BuildHistogram()
                          .Name("strata_model_load_duration_seconds")
                          .Help("Time to load a model version from the store.")
                          .Register(r)),
        load_failures(prometheus::BuildCounter()
                          .Name("strata_model_load_failures_total")
                          .Help("Model versions that failed to load (corrupt, truncated, "
                                "foreign), by model.")
                          .Register(r)),
        labels_removed(prometheus::BuildCounter()
                           .Name("strata_labels_removed_total")
                           .Help("Labels removed because the version they pointed at was "
                                 "deleted from the store, by model.")
                           .Register(r)),
        batch_rows(prometheus::BuildHistogram()
                       .Name("strata_batch_rows")
                       .Help("Rows per model call of the dynamic batcher (_count: calls).")
                       .Register(r)),
        batch_requests(prometheus::BuildCounter()
                           .Name("strata_batch_requests_total")
                           .Help("Requests and stream messages answered through the batcher.")
                           .Register(r)),
        job_duration(prometheus::BuildHistogram()
                         .Name("strata_train_job_duration_seconds")
                         .Help("Wall time of finished training jobs, by final state.")
                         .Register(r)),
        jobs_finished(prometheus::BuildCounter()
                          .Name("strata_train_jobs_finished_total")
                          .Help("Training jobs that ended, by model and final state.")
                          .Register(r)),
        last_loss(prometheus::BuildGauge()
                      .Name("strata_train_last_loss")
                      .Help("Final training loss of the model's latest successful job.")
                      .Register(r)) {}

  static prometheus::Histogram::BucketBoundaries LatencyBuckets() {
    return {50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3,
            50e-3, 0.1,    0.25,   0.5,    1,    2.5,    5,    10};
  }

  // The series of one RPC method, found once: prometheus-cpp's Family::Add
  // builds a label map and takes the family's lock on every call, which cost
  // more than an Encode of a small model. Series are never removed, so the
  // pointers stay valid.
  struct MethodSeries {
    prometheus::Gauge* in_flight = nullptr;
    prometheus::Histogram* duration = nullptr;
    // By model, version and code; by model.
    absl::flat_hash_map<std::string, prometheus::Counter*> requests;
    absl::flat_hash_map<std::string, prometheus::Counter*> rows;
  };

  // The series of `method`, created on first use. The lock is held while the
  // caller reads or extends them.
  MethodSeries& ForMethod(const std::string& method) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::unique_ptr<MethodSeries>& series = methods[method];
    if (series == nullptr) {
      series = std::make_unique<MethodSeries>();
      series->in_flight = &in_flight.Add({{"method", method}});
      series->duration = &duration.Add({{"method", method}}, LatencyBuckets());
    }
    return *series;
  }

  Mutex mu;
  absl::flat_hash_map<std::string, std::unique_ptr<MethodSeries>> methods ABSL_GUARDED_BY(mu);

  prometheus::Family<prometheus::Counter>& requests;
  prometheus::Family<prometheus::Histogram>& duration;
  prometheus::Family<prometheus::Counter>& rows;
  prometheus::Family<prometheus::Gauge>& in_flight;
  prometheus::Family<prometheus::Histogram>& load_duration;
  prometheus::Family<prometheus::Counter>& load_failures;
  prometheus::Family<prometheus::Counter>& labels_removed;
  prometheus::Family<prometheus::Histogram>& batch_rows;
  prometheus::Family<prometheus::Counter>& batch_requests;
  prometheus::Family<prometheus::Histogram>& job_duration;
  prometheus::Family<prometheus::Counter>& jobs_finished;
  prometheus::Family<prometheus::Gauge>& last_loss;
};

// Figures computed from the registry and the job manager at scrape time
// (server/metrics_state.h).
class ServerMetrics::StateCollector : public prometheus::Collectable {
 public:
  explicit StateCollector(int max_features) : max_features_(max_features) {}

  void Attach(const ModelRegistry* registry, const TrainJobManager* jobs) {
    MutexLock lock(&mu_);
    registry_ = registry;
    jobs_ = jobs;
  }

  std::vector<MetricFamily> Collect() const override {
    MutexLock lock(&mu_);
    std::vector<MetricFamily> out;
    if (registry_ != nullptr) CollectModels(&out);
    if (jobs_ != nullptr) CollectJobs(&out);
    return out;
  }

 private:
  void CollectModels(std::vector<MetricFamily>* out) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (MetricFamily& f : ModelStateFamilies(*registry_, max_features_)) {
      out->push_back(std::move(f));
    }
  }

  void CollectJobs(std::vector<MetricFamily>* out) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    out->push_back(JobStateFamily(*jobs_));
  }

  const int max_features_;
  mutable Mutex mu_;
  const ModelRegistry* registry_ ABSL_GUARDED_BY(mu_) = nullptr;
  const TrainJobManager* jobs_ ABSL_GUARDED_BY(mu_) = nullptr;
};

ServerMetrics::ServerMetrics(Options options) : options_(std::move(options)) {}

ServerMetrics::~ServerMetrics() {
  exposer_.reset();  // no scrape runs past this point
}

absl::StatusOr<std::unique_ptr<ServerMetrics>> ServerMetrics::Create(Options options) {
  std::unique_ptr<ServerMetrics> m(new ServerMetrics(std::move(options)));
  m->registry_ = std::make_shared<prometheus::Registry>();
  m->instruments_ = std::make_unique<Instruments>(*m->registry_);
  m->collector_ = std::make_shared<StateCollector>(m->options_.max_drift_features);
  if (!m->options_.address.empty()) {
    try {
      m->exposer_ = std::make_unique<prometheus::Exposer>(m->options_.address, 2);
    } catch (const std::exception& e) {
      return absl::UnavailableError(
          absl::StrCat("cannot serve /metrics on ", m->options_.address, ": ", e.what()));
    }
    m->exposer_->RegisterCollectable(m->registry_);
    m->exposer_->RegisterCollectable(m->collector_);
    const std::vector<int> ports = m->exposer_->GetListeningPorts();
    m->port_ = ports.empty() ? 0 : ports[0];
  }
  return m;
}

void ServerMetrics::Attach(const ModelRegistry* registry, const TrainJobManager* jobs) {
  collector_->Attach(registry, jobs);
}

void ServerMetrics::RpcStarted(const std::string& method) {
  MutexLock lock(&instruments_->mu);
  instruments_->ForMethod(method).in_flight->Increment();
}

void ServerMetrics::RpcFinished(const std::string& method, const v1::ModelVersion& model,
                                grpc::StatusCode code, absl::Duration duration, int64_t rows) {
  MutexLock lock(&instruments_->mu);
  Instruments::MethodSeries& series = instruments_->ForMethod(method);
  series.in_flight->Decrement();
  series.duration->Observe(absl::ToDoubleSeconds(duration));
  const std::string version = model.version() ? absl::StrCat(model.version()) : "";
  prometheus::Counter*& requests =
      series.requests[absl::StrCat(model.name(), "/", version, "/", static_cast<int>(code))];
  if (requests == nullptr) {
    requests = &instruments_->requests.Add({{"method", method},
                                            {"model", model.name()},
                                            {"version", version},
                                            {"code", CodeName(code)}});
  }
  requests->Increment();
  if (rows > 0 && code == grpc::StatusCode::OK) {
    prometheus::Counter*& counter = series.rows[model.name()];
    if (counter == nullptr) {
      counter = &instruments_->rows.Add({{"method", method}, {"model", model.name()}});
    }
    counter->Increment(static_cast<double>(rows));
  }
}

void ServerMetrics::OnVersionEvent(const VersionEvent& event) {
  if (event.kind == VersionEvent::Kind::kLoaded) {
    instruments_->load_duration
        .Add({}, prometheus::Histogram::BucketBoundaries{0.001, 0.01, 0.1, 0.5, 1, 5, 30})
        .Observe(absl::ToDoubleSeconds(event.load_time));
  } else if (event.kind == VersionEvent::Kind::kLoadFailed) {
    instruments_->load_failures.Add({{"model", event.name}}).Increment();
  } else if (event.kind == VersionEvent::Kind::kLabelRemoved) {
    instruments_->labels_removed.Add({{"model", event.name}}).Increment();
  } else if (event.kind == VersionEvent::Kind::kUnloaded) {
    // A server that retrains often would otherwise keep a request series
    // per version forever.
    const std::string prefix = absl::StrCat(event.name, "/", event.version, "/");
    MutexLock lock(&instruments_->mu);
    for (auto& [method, series] : instruments_->methods) {
      for (auto it = series->requests.begin(); it != series->requests.end();) {
        if (absl::StartsWith(it->first, prefix)) {
          instruments_->requests.Remove(it->second);
          series->requests.erase(it++);
        } else {
          ++it;
        }
      }
    }
  }
}

void ServerMetrics::OnBatch(int64_t rows, int64_t requests) {
  instruments_->batch_rows
      .Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024,
                                                       4096})
      .Observe(static_cast<double>(rows));
  instruments_->batch_requests.Add({}).Increment(static_cast<double>(requests));
}

void ServerMetrics::OnJobFinished(const v1::TrainJob& job) {
  const std::string state = v1::TrainJob::State_Name(job.state());
  instruments_->jobs_finished.Add({{"model", job.model_name()}, {"state", state}}).Increment();
  if (job.started_unix_micros() > 0) {
    instruments_->job_duration
        .Add({{"state", state}},
             prometheus::Histogram::BucketBoundaries{1, 10, 60, 300, 900, 3600, 4 * 3600})
        .Observe((job.finished_unix_micros() - job.started_unix_micros()) / 1e6);
  }
  if (job.state() == v1::TrainJob::SUCCEEDED) {
    instruments_->last_loss.Add({{"model", job.model_name()}}).Set(job.progress().train_loss());
  }
}

std::string ServerMetrics::Scrape() const {
  std::vector<MetricFamily> families = registry_->Collect();
  for (MetricFamily& f : collector_->Collect()) families.push_back(std::move(f));
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace strata
