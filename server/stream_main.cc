// strata-stream: scores records from NATS JetStream with a served model and
// publishes the answers (server/stream_connector.h). A binary of its own,
// beside strata-server, not a mode of it: bus readers scale with the
// stream's partitions and lag, servers with RPC traffic, and Kubernetes
// scales each Deployment on its own figure; a reader stuck on the bus never
// holds up RPCs. Both load models from the same store, through the same
// registry and scoring code, so a record gets AnomalyScore's answer.
#include <signal.h>

#include <atomic>
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/model/model_store.h"
#include "server/log.h"
#include "server/metrics.h"
#include "server/model_registry.h"
#include "server/nats_source.h"
#include "server/stream_connector.h"

ABSL_FLAG(std::string, nats_url, "nats://127.0.0.1:4222", "The NATS server.");
ABSL_FLAG(std::string, stream, "", "The JetStream stream holding the records. Required.");
ABSL_FLAG(std::string, subject, "",
          "The subjects to read, a filter of the stream's (e.g. records.>); empty: all of them.");
ABSL_FLAG(std::string, durable, "strata-stream",
          "The durable consumer: replicas with the same name share the records.");
ABSL_FLAG(std::string, model, "", "The model to score with. Required.");
ABSL_FLAG(int64_t, version, 0, "A version number to score with; 0: the latest served.");
ABSL_FLAG(std::string, label, "", "A label to score with (instead of --version).");
ABSL_FLAG(std::string, metric, "",
          "The score metric (mean_squared, mean_absolute, code_distance, combined, ensemble); "
          "empty: the model's default.");
ABSL_FLAG(std::string, model_root, "", "Model store: <model_root>/<name>/<version>/. Required.");
ABSL_FLAG(absl::Duration, poll_interval, absl::Seconds(2),
          "How often to look for new versions (a new version is used from the next batch).");
ABSL_FLAG(std::string, answer_subject, "strata.answers",
          "Where every answer goes (a subject of a JetStream stream).");
ABSL_FLAG(std::string, anomaly_subject, "strata.anomalies",
          "Where anomalies go again, with the record and the top feature errors; empty: nowhere.");
ABSL_FLAG(std::string, dead_letter_subject, "strata.dead",
          "Where records that cannot be parsed or scored go, with the reason.");
ABSL_FLAG(int, batch, 256, "Records per fetch: the bound on records in flight in this reader.");
ABSL_FLAG(int, max_ack_pending, 1024,
          "Records delivered and not yet acknowledged across all replicas (the consumer's).");
ABSL_FLAG(absl::Duration, ack_wait, absl::Seconds(30),
          "How long a record may stay unacknowledged before the bus delivers it again.");
ABSL_FLAG(int, top_errors, 3, "Feature errors named in an anomaly's message.");
ABSL_FLAG(std::string, metrics_host, "0.0.0.0", "Address of /metrics.");
ABSL_FLAG(int, metrics_port, 9465, "/metrics port; 0 picks a free one, -1: none.");
ABSL_FLAG(int64_t, drift_window, 10000, "Records in each model version's drift window.");

namespace {

std::atomic<bool> stop{false};
void OnSignal(int) { stop = true; }

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Scores records from NATS JetStream with a served strata model.\n"
      "usage: strata-stream --stream=RECORDS --model=NAME --model_root=DIR [flags]");
  absl::ParseCommandLine(argc, argv);
  for (const char* required : {"stream", "model", "model_root"}) {
    const std::string value = required == std::string("stream") ? absl::GetFlag(FLAGS_stream)
                              : required == std::string("model")
                                  ? absl::GetFlag(FLAGS_model)
                                  : absl::GetFlag(FLAGS_model_root);
    if (value.empty()) {
      std::cerr << "strata-stream: --" << required << " is required (see --help)\n";
      return 2;
    }
  }
  strata::StreamConnector::Options options;
  options.model.set_name(absl::GetFlag(FLAGS_model));
  if (absl::GetFlag(FLAGS_version) != 0 && !absl::GetFlag(FLAGS_label).empty()) {
    std::cerr << "strata-stream: give --version or --label, not both\n";
    return 2;
  }
  if (absl::GetFlag(FLAGS_version) != 0) options.model.set_version(absl::GetFlag(FLAGS_version));
  if (!absl::GetFlag(FLAGS_label).empty()) options.model.set_label(absl::GetFlag(FLAGS_label));
  if (const std::string metric = absl::GetFlag(FLAGS_metric); !metric.empty()) {
    strata::v1::ScoreOptions::Metric m;
    if (!strata::v1::ScoreOptions::Metric_Parse(absl::AsciiStrToUpper(metric), &m) ||
        m == strata::v1::ScoreOptions::METRIC_UNSPECIFIED) {
      std::cerr << "strata-stream: --metric " << metric
                << " is not one of mean_squared, mean_absolute, code_distance, combined, "
                   "ensemble\n";
      return 2;
    }
    options.score.set_metric(m);
  }
  options.answer_subject = absl::GetFlag(FLAGS_answer_subject);
  options.anomaly_subject = absl::GetFlag(FLAGS_anomaly_subject);
  options.dead_letter_subject = absl::GetFlag(FLAGS_dead_letter_subject);
  options.batch = absl::GetFlag(FLAGS_batch);
  options.top_errors = absl::GetFlag(FLAGS_top_errors);
  if (options.answer_subject.empty() || options.dead_letter_subject.empty() || options.batch < 1 ||
      absl::GetFlag(FLAGS_max_ack_pending) < options.batch || options.top_errors < 0) {
    std::cerr << "strata-stream: --answer_subject and --dead_letter_subject must be set, "
                 "--batch >= 1, --max_ack_pending >= --batch and --top_errors >= 0\n";
    return 2;
  }

  strata::ServerMetrics::Options metrics_options;
  if (absl::GetFlag(FLAGS_metrics_port) >= 0) {
    metrics_options.address =
        absl::StrCat(absl::GetFlag(FLAGS_metrics_host), ":", absl::GetFlag(FLAGS_metrics_port));
  }
  auto metrics = strata::ServerMetrics::Create(metrics_options);
  if (!metrics.ok()) {
    std::cerr << "strata-stream: " << metrics.status().message() << "\n";
    return 1;
  }
  auto store = strata::ModelStore::Create({absl::GetFlag(FLAGS_model_root)});
  if (!store.ok()) {
    std::cerr << "strata-stream: " << store.status().message() << "\n";
    return 1;
  }
  strata::ModelRegistry::Options registry_options;
  registry_options.store = store->get();
  registry_options.poll_interval = absl::GetFlag(FLAGS_poll_interval);
  registry_options.drift_window_rows = absl::GetFlag(FLAGS_drift_window);
  strata::ServerMetrics* m = metrics->get();
  registry_options.on_event = [m](const strata::VersionEvent& e) { m->OnVersionEvent(e); };
  auto registry = strata::ModelRegistry::Create(std::move(registry_options));
  if (!registry.ok()) {
    std::cerr << "strata-stream: " << registry.status().message() << "\n";
    return 1;
  }
  (*metrics)->Attach(registry->get(), nullptr);  // drift of the records scored here

  strata::NatsSource::Options source_options;
  source_options.url = absl::GetFlag(FLAGS_nats_url);
  source_options.stream = absl::GetFlag(FLAGS_stream);
  source_options.subject = absl::GetFlag(FLAGS_subject);
  source_options.durable = absl::GetFlag(FLAGS_durable);
  source_options.ack_wait = absl::GetFlag(FLAGS_ack_wait);
  source_options.max_ack_pending = absl::GetFlag(FLAGS_max_ack_pending);
  auto source = strata::NatsSource::Connect(source_options);
  if (!source.ok()) {
    std::cerr << "strata-stream: " << source.status().message() << "\n";
    (*metrics)->Attach(nullptr, nullptr);
    return 1;
  }
  strata::StreamConnector connector(source->get(), registry->get(), &(*metrics)->registry(),
                                    options);
  struct sigaction action = {};
  action.sa_handler = OnSignal;
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  std::cout << "strata-stream reading stream " << source_options.stream << " as "
            << source_options.durable << ", metrics on port " << (*metrics)->port() << std::endl;
  absl::Duration backoff = absl::Milliseconds(100);
  while (!stop) {
    absl::StatusOr<int> handled = connector.RunOnce();
    if (handled.ok()) {
      backoff = absl::Milliseconds(100);
      continue;
    }
    // The records went back to the bus; wait before trying again, so that
    // a model not yet served or an outage does not spin.
    strata::Log(strata::LogLevel::kWarning, "stream",
                absl::StrCat("batch returned to the bus: ", handled.status().message()));
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(5));
  }
  strata::Log(strata::LogLevel::kInfo, "stream", "stopping (signal): the last batch was finished");
  (*metrics)->Attach(nullptr, nullptr);
  return 0;
}
