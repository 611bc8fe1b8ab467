// The Prometheus families strata-server derives from its state when /metrics
// is scraped: versions and labels per model, drift figures and drift counters
// per served version, and training jobs by state.
//
// ServerMetrics (server/metrics.h) calls these from its scrape-time collector;
// they read the registry and the job manager through their thread-safe
// accessors and hold no state of their own.
//
//   std::vector<prometheus::MetricFamily> families = ModelStateFamilies(registry, 20);
//
// Thread-safe (pure functions over thread-safe sources).
#ifndef STRATA_SERVER_METRICS_STATE_H_
#define STRATA_SERVER_METRICS_STATE_H_

#include <prometheus/metric_family.h>

#include <vector>

#include "server/model_registry.h"
#include "server/train_jobs.h"

namespace strata {

// strata_model_versions_loaded and strata_model_label_version per model, then
// the drift families (window gauges, then counters since each version
// loaded) of every served version that has a drift monitor. Features and
// classes per version are capped at `max_features` to bound label cardinality.
std::vector<prometheus::MetricFamily> ModelStateFamilies(const ModelRegistry& registry,
                                                         int max_features);

// strata_train_jobs: the jobs `jobs` knows, by state (every state present, 0 if
// no job is in it).
prometheus::MetricFamily JobStateFamily(const TrainJobManager& jobs);

}  // namespace strata

#endif  // STRATA_SERVER_METRICS_STATE_H_
