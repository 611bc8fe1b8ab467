#include "server/stream_connector.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/inference.h"
#include "server/inference_service.h"
#include "server/log.h"
#include "server/stream_records.h"

namespace strata {
namespace {

// AnomalyScore's answers for `rows`: row r's is
// answers[answer_of[r]].scores(score_of[r]), or none (answer_of[r] < 0)
// and refused[r] says why.
struct Scored {
  std::vector<v1::AnomalyScoreResponse> answers;
  std::vector<int> answer_of;
  std::vector<int> score_of;
  std::vector<std::string> refused;
};

// Scores the rows together, as one AnomalyScore request of them would be.
// A row the model refuses (InvalidArgument: its answer is not finite) fails
// the call, so then each row alone, and the rows refused are dead letters.
// Any other failure is the model's or the server's, not the records': it
// is returned, and the batch goes back to the bus.
absl::StatusOr<Scored> ScoreRows(const ServableModel& m, const InferenceOp& op,
                                 const v1::ScoreOptions& options, const Matrix& rows) {
  const size_t n = static_cast<size_t>(rows.rows());
  Scored s;
  s.answer_of.assign(n, -1);
  s.score_of.assign(n, 0);
  s.refused.resize(n);
  if (n == 0) return s;
  absl::StatusOr<Matrix> all = RunInference(m, op, rows);
  if (all.ok()) {
    s.answers.emplace_back();
    FillScores(m, op, options, *all, &s.answers.back());
    for (size_t r = 0; r < n; ++r) {
      s.answer_of[r] = 0;
      s.score_of[r] = static_cast<int>(r);
    }
    return s;
  }
  if (!absl::IsInvalidArgument(all.status())) return all.status();
  for (size_t r = 0; r < n; ++r) {
    absl::StatusOr<Matrix> one = RunInference(m, op, rows.middleRows(static_cast<Eigen::Index>(r), 1));
    if (!one.ok()) {
      if (!absl::IsInvalidArgument(one.status())) return one.status();
      s.refused[r] = std::string(one.status().message());
      continue;
    }
    s.answers.emplace_back();
    FillScores(m, op, options, *one, &s.answers.back());
    s.answer_of[r] = static_cast<int>(s.answers.size() - 1);
  }
  return s;
}

}  // namespace

// strata_stream_* on the /metrics of strata-stream; null without a registry.
struct StreamConnector::Counters {
  explicit Counters(prometheus::Registry& r)
      : in(prometheus::BuildCounter()
               .Name("strata_stream_records_in_total")
               .Help("Records fetched from the bus (each delivery, redeliveries included).")
               .Register(r)
               .Add({})),
        redelivered(prometheus::BuildCounter()
                        .Name("strata_stream_records_redelivered_total")
                        .Help("Records fetched that the bus had delivered before without an "
                              "acknowledgement (a reader stopped mid-batch): their answers may "
                              "be published twice.")
                        .Register(r)
                        .Add({})),
        outcome(prometheus::BuildCounter()
                    .Name("strata_stream_records_total")
                    .Help("Records handled and acknowledged, by outcome: answered or "
                          "dead_lettered.")
                    .Register(r)),
        answered(outcome.Add({{"outcome", "answered"}})),
        dead(outcome.Add({{"outcome", "dead_lettered"}})),
        anomalies(prometheus::BuildCounter()
                      .Name("strata_stream_anomalies_total")
                      .Help("Answered records whose score is above the version's threshold.")
                      .Register(r)
                      .Add({})),
        failed_batches(prometheus::BuildCounter()
                           .Name("strata_stream_failed_batches_total")
                           .Help("Batches returned to the bus unacknowledged (no model served, "
                                 "or the answers not stored).")
                           .Register(r)
                           .Add({})),
        lag(prometheus::BuildGauge()
                .Name("strata_stream_lag_records")
                .Help("Records in the stream not yet delivered to this consumer, as of the last "
                      "fetch.")
                .Register(r)
                .Add({})),
        batch_seconds(prometheus::BuildHistogram()
                          .Name("strata_stream_batch_seconds")
                          .Help("Time from a batch's fetch to its acknowledgement.")
                          .Register(r)
                          .Add({}, prometheus::Histogram::BucketBoundaries{
                                       0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                       0.25, 0.5, 1, 2.5})) {}
  prometheus::Counter& in;
  prometheus::Counter& redelivered;
  prometheus::Family<prometheus::Counter>& outcome;
  prometheus::Counter& answered;
  prometheus::Counter& dead;
  prometheus::Counter& anomalies;
  prometheus::Counter& failed_batches;
  prometheus::Gauge& lag;
  prometheus::Histogram& batch_seconds;
};

StreamConnector::StreamConnector(RecordSource* source, const ModelRegistry* registry,
                                 prometheus::Registry* metrics, Options options)
    : source_(source),
      registry_(registry),
      options_(std::move(options)),
      counters_(metrics != nullptr ? std::make_unique<Counters>(*metrics) : nullptr) {}

StreamConnector::~StreamConnector() = default;

absl::StatusOr<int> StreamConnector::RunOnce() {
  absl::StatusOr<std::vector<RecordSource::Record>> fetched =
      source_->Fetch(options_.batch, options_.fetch_wait);
  if (!fetched.ok()) return fetched.status();
  std::vector<RecordSource::Record>& batch = *fetched;
  if (batch.empty()) return 0;
  const absl::Time start = absl::Now();
  if (counters_ != nullptr) {
    counters_->in.Increment(static_cast<double>(batch.size()));
    counters_->lag.Set(static_cast<double>(batch.back().pending));
    for (const RecordSource::Record& r : batch) {
      if (r.deliveries > 1) counters_->redelivered.Increment();
    }
  }
  // Returns the whole batch to the bus, for `why`.
  auto give_back = [&](const absl::Status& why) -> absl::Status {
    for (RecordSource::Record& r : batch) (void)source_->Nak(r);
    if (counters_ != nullptr) counters_->failed_batches.Increment();
    return why;
  };

  absl::StatusOr<ServableModel> m = registry_->Get(options_.model);
  if (!m.ok()) return give_back(m.status());
  absl::StatusOr<ScoreMetric> metric = ResolveMetric(options_.score, *m->model);
  if (!metric.ok()) return give_back(metric.status());
  InferenceOp op;
  op.kind = InferenceOp::Kind::kScore;
  op.metric = *metric;
  v1::ScoreOptions fill_options = options_.score;
  fill_options.set_feature_errors(true);  // for the anomalies' top errors
  const std::vector<std::string>& features = m->model->info().feature_names;
  if (index_ == nullptr || index_->names() != features) {
    index_ = std::make_unique<FeatureIndex>(features);  // a new model's names
  }
  const int d = m->model->input_dim();

  // Parse: rows of the records that parse, in batch order; the reason of
  // each one that does not.
  Matrix rows(static_cast<Eigen::Index>(batch.size()), d);
  std::vector<NamedRecord> parsed(batch.size());
  std::vector<std::string> reasons(batch.size());
  std::vector<Eigen::Index> row_of(batch.size(), -1);
  Eigen::Index n = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    absl::StatusOr<NamedRecord> r = ParseRecord(batch[i].data, *index_, rows.row(n).data());
    if (!r.ok()) {
      reasons[i] = std::string(r.status().message());
      continue;
    }
    parsed[i] = *std::move(r);
    row_of[i] = n++;
  }
  rows.conservativeResize(n, d);

  absl::StatusOr<Scored> scored = ScoreRows(*m, op, fill_options, rows);
  if (!scored.ok()) return give_back(scored.status());
  const std::vector<v1::AnomalyScoreResponse>& answers = scored->answers;

  std::vector<RecordSource::Message> out;
  out.reserve(batch.size() + 8);
  int64_t answered = 0, dead = 0, anomalies = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    const RecordSource::Record& record = batch[i];
    const Eigen::Index r = row_of[i];
    const int a = r >= 0 ? scored->answer_of[static_cast<size_t>(r)] : -1;
    if (a < 0) {
      const std::string& reason = r < 0 ? reasons[i] : scored->refused[static_cast<size_t>(r)];
      out.push_back({options_.dead_letter_subject,
                     DeadLetterJson(record.subject, record.sequence, reason, record.data)});
      ++dead;
      continue;
    }
    const v1::AnomalyScoreResponse& response = answers[static_cast<size_t>(a)];
    const v1::RowScore& score = response.scores(scored->score_of[static_cast<size_t>(r)]);
    std::string json = AnswerJson(record.subject, record.sequence, parsed[i], response.model(),
                                  response, score, features, rows.row(r).data(),
                                  options_.top_errors);
    if (score.is_anomaly() && !options_.anomaly_subject.empty()) {
      out.push_back({options_.answer_subject, json});
      out.push_back({options_.anomaly_subject, std::move(json)});
      ++anomalies;
    } else {
      anomalies += score.is_anomaly() ? 1 : 0;
      out.push_back({options_.answer_subject, std::move(json)});
    }
    ++answered;
  }
  if (absl::Status s = source_->Publish(out); !s.ok()) return give_back(s);
  for (RecordSource::Record& record : batch) {
    if (absl::Status s = source_->Ack(record); !s.ok()) {
      // Its answer is stored: at worst the record comes again and is
      // answered twice, which at-least-once allows.
      Log(LogLevel::kWarning, "stream", std::string(s.message()));
    }
  }
  if (counters_ != nullptr) {
    counters_->answered.Increment(static_cast<double>(answered));
    counters_->dead.Increment(static_cast<double>(dead));
    counters_->anomalies.Increment(static_cast<double>(anomalies));
    counters_->batch_seconds.Observe(absl::ToDoubleSeconds(absl::Now() - start));
  }
  return static_cast<int>(batch.size());
}

}  // namespace strata
