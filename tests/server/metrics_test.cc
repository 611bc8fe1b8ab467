// ServerMetrics records what its methods say, as Prometheus reads it: each
// figure is looked up in the text that /metrics serves (the registry's
// Collect(), serialized), by its exact series.
#include "server/metrics.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace strata {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// The value of the series `series` (name and labels, exactly as exposed);
// NaN when it is not exposed.
double Value(const std::string& scraped, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(scraped, '\n')) {
    if (absl::StartsWith(line, series + " ")) {
      double v = std::nan("");
      (void)absl::SimpleAtod(line.substr(series.size() + 1), &v);
      return v;
    }
  }
  return std::nan("");
}

std::unique_ptr<ServerMetrics> Metrics() {
  auto m = ServerMetrics::Create({});
  EXPECT_TRUE(m.ok()) << m.status();
  return *std::move(m);
}

v1::ModelVersion Version(const std::string& name, int64_t version) {
  v1::ModelVersion v;
  v.set_name(name);
  v.set_version(version);
  return v;
}

TEST(ServerMetricsTest, RpcsAreCountedByOutcomeTimedAndInFlightUntilFinished) {
  auto m = Metrics();
  EXPECT_EQ(m->port(), 0);  // no endpoint without an address
  m->RpcStarted("Encode");
  m->RpcStarted("Encode");
  EXPECT_EQ(Value(m->Scrape(), "strata_rpc_in_flight{method=\"Encode\"}"), 2);
  m->RpcFinished("Encode", Version("m", 1), grpc::StatusCode::OK, absl::Milliseconds(3), 5);
  m->RpcFinished("Encode", Version("m", 1), grpc::StatusCode::INVALID_ARGUMENT,
                 absl::Milliseconds(4), 7);
  const std::string s = m->Scrape();
  EXPECT_EQ(Value(s, "strata_rpc_in_flight{method=\"Encode\"}"), 0);
  EXPECT_EQ(Value(s, "strata_rpc_requests_total{code=\"OK\",method=\"Encode\",model=\"m\","
                     "version=\"1\"}"),
            1);
  EXPECT_EQ(Value(s, "strata_rpc_requests_total{code=\"INVALID_ARGUMENT\",method=\"Encode\","
                     "model=\"m\",version=\"1\"}"),
            1);
  // Rows of answered calls only.
  EXPECT_EQ(Value(s, "strata_rpc_rows_total{method=\"Encode\",model=\"m\"}"), 5);
  // 3 ms and 4 ms: both in the 5 ms bucket, neither in the 2.5 ms one.
  EXPECT_EQ(Value(s, "strata_rpc_duration_seconds_count{method=\"Encode\"}"), 2);
  EXPECT_NEAR(Value(s, "strata_rpc_duration_seconds_sum{method=\"Encode\"}"), 0.007, 1e-9);
  EXPECT_EQ(Value(s, "strata_rpc_duration_seconds_bucket{method=\"Encode\",le=\"0.0025\"}"), 0);
  EXPECT_EQ(Value(s, "strata_rpc_duration_seconds_bucket{method=\"Encode\",le=\"0.005\"}"), 2);
  // A call with no model (ListModels, say) has empty model and version labels.
  m->RpcStarted("ListModels");
  m->RpcFinished("ListModels", {}, grpc::StatusCode::OK, absl::Milliseconds(1), 0);
  EXPECT_EQ(Value(m->Scrape(), "strata_rpc_requests_total{code=\"OK\",method=\"ListModels\","
                               "model=\"\",version=\"\"}"),
            1);
}

TEST(ServerMetricsTest, AnUnloadedVersionLeavesNoRequestSeriesAndOthersKeepTheirs) {
  auto m = Metrics();
  for (int64_t v : {1, 2}) {
    m->RpcStarted("Encode");
    m->RpcFinished("Encode", Version("m", v), grpc::StatusCode::OK, absl::Milliseconds(1), 1);
  }
  m->RpcStarted("Encode");
  m->RpcFinished("Encode", Version("other", 1), grpc::StatusCode::OK, absl::Milliseconds(1), 1);
  m->OnVersionEvent({VersionEvent::Kind::kUnloaded, "m", 1});
  const std::string s = m->Scrape();
  EXPECT_THAT(s, Not(HasSubstr("model=\"m\",version=\"1\"")));
  EXPECT_EQ(Value(s, "strata_rpc_requests_total{code=\"OK\",method=\"Encode\",model=\"m\","
                     "version=\"2\"}"),
            1);
  EXPECT_EQ(Value(s, "strata_rpc_requests_total{code=\"OK\",method=\"Encode\",model=\"other\","
                     "version=\"1\"}"),
            1);
  // The series comes back, from 1, if the version is served again.
  m->RpcStarted("Encode");
  m->RpcFinished("Encode", Version("m", 1), grpc::StatusCode::OK, absl::Milliseconds(1), 1);
  EXPECT_EQ(Value(m->Scrape(), "strata_rpc_requests_total{code=\"OK\",method=\"Encode\","
                               "model=\"m\",version=\"1\"}"),
            1);
}

TEST(ServerMetricsTest, VersionEventsAreCounted) {
  auto m = Metrics();
  VersionEvent loaded{VersionEvent::Kind::kLoaded, "m", 1, absl::Milliseconds(20)};
  m->OnVersionEvent(loaded);
  m->OnVersionEvent({VersionEvent::Kind::kLoadFailed, "m", 2, {}, "corrupt"});
  m->OnVersionEvent({VersionEvent::Kind::kLoadFailed, "m", 3, {}, "corrupt"});
  VersionEvent removed{VersionEvent::Kind::kLabelRemoved, "m", 3};
  removed.label = "stable";
  m->OnVersionEvent(removed);
  const std::string s = m->Scrape();
  EXPECT_EQ(Value(s, "strata_model_load_duration_seconds_count"), 1);
  EXPECT_NEAR(Value(s, "strata_model_load_duration_seconds_sum"), 0.02, 1e-9);
  EXPECT_EQ(Value(s, "strata_model_load_duration_seconds_bucket{le=\"0.01\"}"), 0);
  EXPECT_EQ(Value(s, "strata_model_load_duration_seconds_bucket{le=\"0.1\"}"), 1);
  EXPECT_EQ(Value(s, "strata_model_load_failures_total{model=\"m\"}"), 2);
  EXPECT_EQ(Value(s, "strata_labels_removed_total{model=\"m\"}"), 1);
}

TEST(ServerMetricsTest, BatchesCountRowsPerModelCallAndRequests) {
  auto m = Metrics();
  m->OnBatch(10, 3);
  m->OnBatch(1, 1);
  const std::string s = m->Scrape();
  EXPECT_EQ(Value(s, "strata_batch_rows_count"), 2);
  EXPECT_EQ(Value(s, "strata_batch_rows_sum"), 11);
  EXPECT_EQ(Value(s, "strata_batch_rows_bucket{le=\"1\"}"), 1);
  EXPECT_EQ(Value(s, "strata_batch_rows_bucket{le=\"8\"}"), 1);
  EXPECT_EQ(Value(s, "strata_batch_rows_bucket{le=\"16\"}"), 2);
  EXPECT_EQ(Value(s, "strata_batch_requests_total"), 4);
}

TEST(ServerMetricsTest, FinishedJobsAreCountedTimedAndTheirLossKept) {
  auto m = Metrics();
  v1::TrainJob ok;
  ok.set_model_name("m");
  ok.set_state(v1::TrainJob::SUCCEEDED);
  ok.set_started_unix_micros(1'000'000);
  ok.set_finished_unix_micros(6'000'000);  // 5 s
  ok.mutable_progress()->set_train_loss(0.25);
  m->OnJobFinished(ok);
  // Cancelled while queued: never started, so no duration.
  v1::TrainJob queued;
  queued.set_model_name("m");
  queued.set_state(v1::TrainJob::CANCELLED);
  queued.set_finished_unix_micros(7'000'000);
  m->OnJobFinished(queued);
  // A failed job does not replace the last successful loss.
  v1::TrainJob failed = ok;
  failed.set_state(v1::TrainJob::FAILED);
  failed.mutable_progress()->set_train_loss(9);
  m->OnJobFinished(failed);
  const std::string s = m->Scrape();
  EXPECT_EQ(Value(s, "strata_train_jobs_finished_total{model=\"m\",state=\"SUCCEEDED\"}"), 1);
  EXPECT_EQ(Value(s, "strata_train_jobs_finished_total{model=\"m\",state=\"CANCELLED\"}"), 1);
  EXPECT_EQ(Value(s, "strata_train_jobs_finished_total{model=\"m\",state=\"FAILED\"}"), 1);
  EXPECT_EQ(Value(s, "strata_train_job_duration_seconds_count{state=\"SUCCEEDED\"}"), 1);
  EXPECT_EQ(Value(s, "strata_train_job_duration_seconds_sum{state=\"SUCCEEDED\"}"), 5);
  EXPECT_EQ(Value(s, "strata_train_job_duration_seconds_bucket{state=\"SUCCEEDED\",le=\"1\"}"),
            0);
  EXPECT_EQ(Value(s, "strata_train_job_duration_seconds_bucket{state=\"SUCCEEDED\",le=\"10\"}"),
            1);
  EXPECT_THAT(s, Not(HasSubstr("strata_train_job_duration_seconds_count{state=\"CANCELLED\"}")));
  EXPECT_EQ(Value(s, "strata_train_last_loss{model=\"m\"}"), 0.25);
}

}  // namespace
}  // namespace strata
