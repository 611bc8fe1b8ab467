// StreamConnector: strata-stream's loop. It reads records from a
// RecordSource (NATS JetStream: server/nats_source.h) in batches, scores
// them with the served model through RunInference and FillScores (the path
// and the answer of AnomalyScore, so the same row gets the same bytes),
// publishes each answer, anomalies and dead letters, and only then
// acknowledges the records: at-least-once delivery. A record that cannot be
// parsed or scored goes to the dead-letter subject with the reason;
// nothing is dropped without a message.
//
//   StreamConnector connector(source.get(), registry.get(), &metrics.registry(), options);
//   while (!stop) connector.RunOnce();
//
// Not thread-safe: one thread runs it.
#ifndef STRATA_SERVER_STREAM_CONNECTOR_H_
#define STRATA_SERVER_STREAM_CONNECTOR_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/model_registry.h"
#include "server/record_source.h"
#include "server/stream_records.h"
#include "strata/v1/service.pb.h"

namespace prometheus {
class Registry;
}  // namespace prometheus

namespace strata {

class StreamConnector {
 public:
  struct Options {
    v1::ModelSpec model;           // name, and a version or label (neither: the latest)
    v1::ScoreOptions score;        // the metric (unspecified: the model's default)
    std::string answer_subject;    // every scored record's answer
    std::string anomaly_subject;   // anomalies again, with the row and top errors; "" for none
    std::string dead_letter_subject;
    int batch = 256;               // records per fetch: the bound on records in flight
    absl::Duration fetch_wait = absl::Milliseconds(500);
    int top_errors = 3;
  };
  // `source` and `registry` must outlive the connector; `metrics` may be
  // null, else the counters are registered there.
  StreamConnector(RecordSource* source, const ModelRegistry* registry,
                  prometheus::Registry* metrics, Options options);
  ~StreamConnector();

  // One batch: fetched, answered, published, acknowledged. Returns the
  // records handled (0 when none came). On an error nothing of the batch is
  // acknowledged; its records are returned to the bus (Nak) to come again.
  absl::StatusOr<int> RunOnce();

 private:
  struct Counters;
  RecordSource* const source_;
  std::unique_ptr<FeatureIndex> index_;  // the served model's feature names
  const ModelRegistry* const registry_;
  const Options options_;
  std::unique_ptr<Counters> counters_;
};

}  // namespace strata

#endif  // STRATA_SERVER_STREAM_CONNECTOR_H_
