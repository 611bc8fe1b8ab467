#include "server/metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <map>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/scoring/drift.h"

namespace strata {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

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

MetricFamily Family(std::string name, std::string help, MetricType type) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

void AddGauge(MetricFamily* f, std::vector<ClientMetric::Label> labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  m.gauge.value = value;
  f->metric.push_back(std::move(m));
}

void AddCounter(MetricFamily* f, std::vector<ClientMetric::Label> labels, uint64_t value) {
  ClientMetric m;
  m.label = std::move(labels);
  m.counter.value = static_cast<double>(value);
  f->metric.push_back(std::move(m));
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

// Figures computed from the registry and the job manager at scrape time.
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
    MetricFamily loaded = Family("strata_model_versions_loaded",
                                 "Versions of the model being served.", MetricType::Gauge);
    MetricFamily labels = Family("strata_model_label_version", "The version each label points at.",
                                 MetricType::Gauge);
    for (const ModelRegistry::ModelView& m : registry_->List()) {
      AddGauge(&loaded, {{"model", m.name}}, static_cast<double>(m.versions.size()));
      for (const auto& [label, version] : m.labels) {
        AddGauge(&labels, {{"model", m.name}, {"label", label}}, static_cast<double>(version));
      }
    }
    MetricFamily psi = Family("strata_feature_psi",
                              "Population stability index of a feature over the drift window "
                              "against its training bins (the most drifted features).",
                              MetricType::Gauge);
    MetricFamily feature_drift =
        Family("strata_feature_drift",
               "A feature's drift on PSI's scale: max(PSI, out-of-range PSI), so a feature that "
               "leaves its training range counts even where its bins cannot show it.",
               MetricType::Gauge);
    MetricFamily shift =
        Family("strata_feature_mean_shift",
               "(window mean - training mean) / training std of a feature.", MetricType::Gauge);
    MetricFamily oor =
        Family("strata_feature_out_of_range_ratio",
               "Share of window values outside the feature's training range.", MetricType::Gauge);
    MetricFamily error_hist = Family("strata_reconstruction_error",
                                     "Per-record reconstruction MSE (scaled space) of scored "
                                     "records since the version loaded.",
                                     MetricType::Histogram);
    MetricFamily error_window =
        Family("strata_reconstruction_error_window",
               "Reconstruction MSE over the drift window (stat=mean|p95) and in training "
               "(source=window|training).",
               MetricType::Gauge);
    MetricFamily anomaly = Family("strata_anomaly_ratio",
                                  "Share of scored records over the drift window above the "
                                  "COMBINED threshold (MSE for models without code scores; not "
                                  "ENSEMBLE, which needs every network) (source=window), and "
                                  "the share calibration expects (source=expected).",
                                  MetricType::Gauge);
    MetricFamily code = Family("strata_code_drift",
                               "Shift of code-unit means over the window in training std units "
                               "(stat=mean|max over units).",
                               MetricType::Gauge);
    MetricFamily score =
        Family("strata_drift_score",
               "max(feature drifts, reconstruction-error PSI, class PSI) over the window (absent "
               "while the window is empty: nothing measured; see strata_drift_window_records).",
               MetricType::Gauge);
    MetricFamily window = Family("strata_drift_window_records", "Records the drift figures cover.",
                                 MetricType::Gauge);
    MetricFamily class_psi =
        Family("strata_class_psi",
               "Models with a classifier head: PSI of the predicted classes over the drift "
               "window against the training rows' (0 until a Predict call is seen).",
               MetricType::Gauge);
    MetricFamily class_share =
        Family("strata_predicted_class_share",
               "Models with a classifier head: share of rows predicted in each class "
               "(source=window|training), for the first --drift_max_features classes.",
               MetricType::Gauge);
    // Counters since the version loaded, for drift across replicas and over
    // any time window: Prometheus' recording rules turn their increase()
    // into PSI (deploy/prometheus/strata-rules.yml). Every series exists
    // from the load on, at 0, so that increase() sees the first records.
    MetricFamily records =
        Family("strata_drift_records_total",
               "Records the drift monitor has seen since the version loaded.", MetricType::Counter);
    MetricFamily bin_records =
        Family("strata_drift_bin_records_total",
               "Records per training-quantile bin of a feature since the version loaded, for the "
               "model's first --drift_max_features features (fleet-wide PSI by recording rule).",
               MetricType::Counter);
    MetricFamily bin_share = Family("strata_drift_bin_training_share",
                                    "Share of the training rows in each bin of "
                                    "strata_drift_bin_records_total.",
                                    MetricType::Gauge);
    MetricFamily oor_records =
        Family("strata_feature_out_of_range_records_total",
               "Records with the feature outside its training [min, max] since the version "
               "loaded (the features of strata_drift_bin_records_total).",
               MetricType::Counter);
    MetricFamily oor_share =
        Family("strata_drift_out_of_range_training_share",
               "Share of new values outside the training range that the training set predicts, "
               "2 / (training rows + 1).",
               MetricType::Gauge);
    MetricFamily error_records =
        Family("strata_error_bin_records_total",
               "Scored records per bucket of the training reconstruction-error histogram since the "
               "version loaded (bin i: at most the i-th edge of strata_reconstruction_error).",
               MetricType::Counter);
    MetricFamily error_share =
        Family("strata_error_bin_training_share",
               "Share of the training rows in each bin of strata_error_bin_records_total.",
               MetricType::Gauge);
    MetricFamily anomaly_records =
        Family("strata_anomaly_records_total",
               "Scored records above the COMBINED threshold (MSE for models without code "
               "scores) since the version loaded.",
               MetricType::Counter);
    for (const ServableModel& s : registry_->ServedVersions()) {
      if (s.drift == nullptr) continue;
      const std::string version = absl::StrCat(s.version);
      const v1::DriftFigures f = s.drift->Figures();
      const std::vector<ClientMetric::Label> mv = {{"model", s.name}, {"version", version}};
      auto with = [&](std::vector<ClientMetric::Label> extra) {
        std::vector<ClientMetric::Label> l = mv;
        l.insert(l.end(), extra.begin(), extra.end());
        return l;
      };
      for (int i = 0; i < f.features_size() && i < max_features_; ++i) {
        const v1::FeatureDrift& d = f.features(i);
        AddGauge(&psi, with({{"feature", d.name()}}), d.psi());
        AddGauge(&feature_drift, with({{"feature", d.name()}}), d.drift());
        AddGauge(&shift, with({{"feature", d.name()}}), d.mean_shift());
        AddGauge(&oor, with({{"feature", d.name()}}), d.out_of_range_ratio());
      }
      const DriftMonitor::Totals totals = s.drift->Cumulative();
      const v1::DriftBaseline& baseline = s.drift->baseline();
      AddCounter(&records, mv, totals.rows);
      const std::vector<std::string>& names = s.model->info().feature_names;
      for (int c = 0; c < baseline.features_size() && c < max_features_; ++c) {
        const std::string name =
            c < static_cast<int>(names.size()) ? names[c] : absl::StrCat("f", c);
        const v1::FeatureBaseline& fb = baseline.features(c);
        for (int b = 0; b < fb.proportions_size(); ++b) {
          const std::vector<ClientMetric::Label> l =
              with({{"feature", name}, {"bin", absl::StrCat(b)}});
          AddCounter(&bin_records, l, totals.bin_counts[s.drift->bin_offset(c) + b]);
          AddGauge(&bin_share, l, fb.proportions(b));
        }
        AddCounter(&oor_records, with({{"feature", name}}), totals.out_of_range[c]);
      }
      AddGauge(&oor_share, mv, OutOfRangeTrainingShare(baseline.training_rows()));
      const auto& error_proportions = baseline.reconstruction_error().histogram_proportions();
      for (size_t b = 0; b < totals.error_bins.size(); ++b) {
        const std::vector<ClientMetric::Label> l = with({{"bin", absl::StrCat(b)}});
        AddCounter(&error_records, l, totals.error_bins[b]);
        if (static_cast<int>(b) < error_proportions.size()) {
          AddGauge(&error_share, l, error_proportions[static_cast<int>(b)]);
        }
      }
      AddCounter(&anomaly_records, mv, totals.anomalies);
      const auto& edges = baseline.reconstruction_error().histogram_edges();
      ClientMetric hm;
      hm.label = mv;
      uint64_t cumulative = 0;
      for (size_t b = 0; b < totals.error_bins.size(); ++b) {
        cumulative += totals.error_bins[b];
        ClientMetric::Bucket bucket;
        bucket.cumulative_count = cumulative;
        bucket.upper_bound = b < static_cast<size_t>(edges.size())
                                 ? edges[static_cast<int>(b)]
                                 : std::numeric_limits<double>::infinity();
        hm.histogram.bucket.push_back(bucket);
      }
      hm.histogram.sample_count = cumulative;
      hm.histogram.sample_sum = totals.error_sum;
      error_hist.metric.push_back(std::move(hm));
      AddGauge(&error_window, with({{"stat", "mean"}, {"source", "window"}}), f.error_mean());
      AddGauge(&error_window, with({{"stat", "p95"}, {"source", "window"}}), f.error_p95());
      AddGauge(&error_window, with({{"stat", "mean"}, {"source", "training"}}),
               f.training_error_mean());
      AddGauge(&error_window, with({{"stat", "p95"}, {"source", "training"}}),
               f.training_error_p95());
      AddGauge(&anomaly, with({{"source", "window"}}), f.anomaly_ratio());
      AddGauge(&anomaly, with({{"source", "expected"}}), f.expected_anomaly_ratio());
      AddGauge(&code, with({{"stat", "mean"}}), f.code_drift_mean());
      AddGauge(&code, with({{"stat", "max"}}), f.code_drift_max());
      // An empty window has no drift score: 0 would read as "stable".
      if (f.window_rows() > 0) AddGauge(&score, mv, f.drift_score());
      AddGauge(&window, mv, static_cast<double>(f.window_rows()));
      // ValidateModel holds the baseline's shares to the head's classes.
      const auto& training = s.drift->baseline().class_proportions();
      const std::vector<std::string>& classes = s.model->info().class_names;
      // No window figures before the first Predict: none is measured yet.
      const bool predicted = f.class_rows() > 0 && f.class_shares_size() == training.size();
      if (predicted) AddGauge(&class_psi, mv, f.class_psi());
      for (int k = 0; k < training.size() && k < max_features_; ++k) {
        AddGauge(&class_share, with({{"class", classes[k]}, {"source", "training"}}), training[k]);
        if (predicted) {
          AddGauge(&class_share, with({{"class", classes[k]}, {"source", "window"}}),
                   f.class_shares(k));
        }
      }
    }
    for (MetricFamily* f :
         {&loaded,     &labels,        &psi,         &feature_drift,  &shift,     &oor,
          &error_hist, &error_window,  &anomaly,     &code,           &score,     &window,
          &class_psi,  &class_share,   &records,     &bin_records,    &bin_share, &oor_records,
          &oor_share,  &error_records, &error_share, &anomaly_records}) {
      out->push_back(std::move(*f));
    }
  }

  void CollectJobs(std::vector<MetricFamily>* out) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    MetricFamily jobs = Family("strata_train_jobs", "Training jobs known to the server, by state.",
                               MetricType::Gauge);
    std::map<std::string, int> by_state;
    for (int s = v1::TrainJob::QUEUED; s <= v1::TrainJob::CANCELLED; ++s) {
      by_state[v1::TrainJob::State_Name(static_cast<v1::TrainJob::State>(s))] = 0;
    }
    for (const v1::TrainJob& j : jobs_->List("")) ++by_state[v1::TrainJob::State_Name(j.state())];
    for (const auto& [state, n] : by_state) AddGauge(&jobs, {{"state", state}}, n);
    out->push_back(std::move(jobs));
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
