#include "server/metrics_state.h"

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/scoring/drift.h"

namespace strata {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

MetricFamily Family(std::string name, std::string help, MetricType type) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

void AddGauge(MetricFamily* f, Labels labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  m.gauge.value = value;
  f->metric.push_back(std::move(m));
}

void AddCounter(MetricFamily* f, Labels labels, uint64_t value) {
  ClientMetric m;
  m.label = std::move(labels);
  m.counter.value = static_cast<double>(value);
  f->metric.push_back(std::move(m));
}

// `base` followed by `extra`.
Labels With(const Labels& base, const Labels& extra) {
  Labels l = base;
  l.insert(l.end(), extra.begin(), extra.end());
  return l;
}

// Versions and labels per model.
struct RegistryFamilies {
  MetricFamily loaded = Family("strata_model_versions_loaded",
                               "Versions of the model being served.", MetricType::Gauge);
  MetricFamily labels =
      Family("strata_model_label_version", "The version each label points at.", MetricType::Gauge);
};

// Figures of the drift window, and the reconstruction-error histogram.
struct WindowFamilies {
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
  MetricFamily window =
      Family("strata_drift_window_records", "Records the drift figures cover.", MetricType::Gauge);
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
};

// Counters since the version loaded, for drift across replicas and over
// any time window: Prometheus' recording rules turn their increase()
// into PSI (deploy/prometheus/strata-rules.yml). Every series exists
// from the load on, at 0, so that increase() sees the first records.
struct CounterFamilies {
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
};

void AddRegistryState(const ModelRegistry& registry, RegistryFamilies* out) {
  for (const ModelRegistry::ModelView& m : registry.List()) {
    AddGauge(&out->loaded, {{"model", m.name}}, static_cast<double>(m.versions.size()));
    for (const auto& [label, version] : m.labels) {
      AddGauge(&out->labels, {{"model", m.name}, {"label", label}}, static_cast<double>(version));
    }
  }
}

// The window figures of the version's first `max_features` (most drifted) features.
void AddFeatureFigures(const v1::DriftFigures& f, const Labels& mv, int max_features,
                       WindowFamilies* out) {
  for (int i = 0; i < f.features_size() && i < max_features; ++i) {
    const v1::FeatureDrift& d = f.features(i);
    AddGauge(&out->psi, With(mv, {{"feature", d.name()}}), d.psi());
    AddGauge(&out->feature_drift, With(mv, {{"feature", d.name()}}), d.drift());
    AddGauge(&out->shift, With(mv, {{"feature", d.name()}}), d.mean_shift());
    AddGauge(&out->oor, With(mv, {{"feature", d.name()}}), d.out_of_range_ratio());
  }
}

// The counters since the version loaded, each beside the training share it
// is compared against, for the model's first `max_features` features.
void AddDriftCounters(const ServableModel& s, const DriftMonitor::Totals& totals, const Labels& mv,
                      int max_features, CounterFamilies* out) {
  const v1::DriftBaseline& baseline = s.drift->baseline();
  AddCounter(&out->records, mv, totals.rows);
  const std::vector<std::string>& names = s.model->info().feature_names;
  for (int c = 0; c < baseline.features_size() && c < max_features; ++c) {
    const std::string name = c < static_cast<int>(names.size()) ? names[c] : absl::StrCat("f", c);
    const v1::FeatureBaseline& fb = baseline.features(c);
    for (int b = 0; b < fb.proportions_size(); ++b) {
      const Labels l = With(mv, {{"feature", name}, {"bin", absl::StrCat(b)}});
      AddCounter(&out->bin_records, l, totals.bin_counts[s.drift->bin_offset(c) + b]);
      AddGauge(&out->bin_share, l, fb.proportions(b));
    }
    AddCounter(&out->oor_records, With(mv, {{"feature", name}}), totals.out_of_range[c]);
  }
  AddGauge(&out->oor_share, mv, OutOfRangeTrainingShare(baseline.training_rows()));
  const auto& error_proportions = baseline.reconstruction_error().histogram_proportions();
  for (size_t b = 0; b < totals.error_bins.size(); ++b) {
    const Labels l = With(mv, {{"bin", absl::StrCat(b)}});
    AddCounter(&out->error_records, l, totals.error_bins[b]);
    if (static_cast<int>(b) < error_proportions.size()) {
      AddGauge(&out->error_share, l, error_proportions[static_cast<int>(b)]);
    }
  }
  AddCounter(&out->anomaly_records, mv, totals.anomalies);
}

// The reconstruction-error histogram since the version loaded, on the
// training histogram's edges (the last bucket is +Inf).
void AddErrorHistogram(const v1::DriftBaseline& baseline, const DriftMonitor::Totals& totals,
                       const Labels& mv, MetricFamily* error_hist) {
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
  error_hist->metric.push_back(std::move(hm));
}

// Reconstruction error, anomaly ratio, code drift, drift score and window size.
void AddWindowFigures(const v1::DriftFigures& f, const Labels& mv, WindowFamilies* out) {
  AddGauge(&out->error_window, With(mv, {{"stat", "mean"}, {"source", "window"}}), f.error_mean());
  AddGauge(&out->error_window, With(mv, {{"stat", "p95"}, {"source", "window"}}), f.error_p95());
  AddGauge(&out->error_window, With(mv, {{"stat", "mean"}, {"source", "training"}}),
           f.training_error_mean());
  AddGauge(&out->error_window, With(mv, {{"stat", "p95"}, {"source", "training"}}),
           f.training_error_p95());
  AddGauge(&out->anomaly, With(mv, {{"source", "window"}}), f.anomaly_ratio());
  AddGauge(&out->anomaly, With(mv, {{"source", "expected"}}), f.expected_anomaly_ratio());
  AddGauge(&out->code, With(mv, {{"stat", "mean"}}), f.code_drift_mean());
  AddGauge(&out->code, With(mv, {{"stat", "max"}}), f.code_drift_max());
  // An empty window has no drift score: 0 would read as "stable".
  if (f.window_rows() > 0) AddGauge(&out->score, mv, f.drift_score());
  AddGauge(&out->window, mv, static_cast<double>(f.window_rows()));
}

// Class PSI and predicted-class shares of a model with a classifier head, for
// its first `max_features` classes.
void AddClassShares(const ServableModel& s, const v1::DriftFigures& f, const Labels& mv,
                    int max_features, WindowFamilies* out) {
  // ValidateModel holds the baseline's shares to the head's classes.
  const auto& training = s.drift->baseline().class_proportions();
  const std::vector<std::string>& classes = s.model->info().class_names;
  // No window figures before the first Predict: none is measured yet.
  const bool predicted = f.class_rows() > 0 && f.class_shares_size() == training.size();
  if (predicted) AddGauge(&out->class_psi, mv, f.class_psi());
  for (int k = 0; k < training.size() && k < max_features; ++k) {
    AddGauge(&out->class_share, With(mv, {{"class", classes[k]}, {"source", "training"}}),
             training[k]);
    if (predicted) {
      AddGauge(&out->class_share, With(mv, {{"class", classes[k]}, {"source", "window"}}),
               f.class_shares(k));
    }
  }
}

// Every drift series of one served version that has a drift monitor.
void AddVersionDrift(const ServableModel& s, int max_features, WindowFamilies* window,
                     CounterFamilies* counters) {
  const Labels mv = {{"model", s.name}, {"version", absl::StrCat(s.version)}};
  const v1::DriftFigures f = s.drift->Figures();
  AddFeatureFigures(f, mv, max_features, window);
  const DriftMonitor::Totals totals = s.drift->Cumulative();
  AddDriftCounters(s, totals, mv, max_features, counters);
  AddErrorHistogram(s.drift->baseline(), totals, mv, &window->error_hist);
  AddWindowFigures(f, mv, window);
  AddClassShares(s, f, mv, max_features, window);
}

}  // namespace

std::vector<MetricFamily> ModelStateFamilies(const ModelRegistry& registry, int max_features) {
  RegistryFamilies models;
  AddRegistryState(registry, &models);
  WindowFamilies window;
  CounterFamilies counters;
  for (const ServableModel& s : registry.ServedVersions()) {
    if (s.drift == nullptr) continue;
    AddVersionDrift(s, max_features, &window, &counters);
  }
  std::vector<MetricFamily> out;
  for (MetricFamily* f : {&models.loaded,        &models.labels,
                          &window.psi,           &window.feature_drift,
                          &window.shift,         &window.oor,
                          &window.error_hist,    &window.error_window,
                          &window.anomaly,       &window.code,
                          &window.score,         &window.window,
                          &window.class_psi,     &window.class_share,
                          &counters.records,     &counters.bin_records,
                          &counters.bin_share,   &counters.oor_records,
                          &counters.oor_share,   &counters.error_records,
                          &counters.error_share, &counters.anomaly_records}) {
    out.push_back(std::move(*f));
  }
  return out;
}

MetricFamily JobStateFamily(const TrainJobManager& jobs) {
  MetricFamily family = Family("strata_train_jobs", "Training jobs known to the server, by state.",
                               MetricType::Gauge);
  std::map<std::string, int> by_state;
  for (int s = v1::TrainJob::QUEUED; s <= v1::TrainJob::CANCELLED; ++s) {
    by_state[v1::TrainJob::State_Name(static_cast<v1::TrainJob::State>(s))] = 0;
  }
  for (const v1::TrainJob& j : jobs.List("")) ++by_state[v1::TrainJob::State_Name(j.state())];
  for (const auto& [state, n] : by_state) AddGauge(&family, {{"state", state}}, n);
  return family;
}

}  // namespace strata
