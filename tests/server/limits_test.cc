// The server's limits, each refused with its status and a reason, over gRPC.
#include <fstream>
#include <string>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/dense_matrix.h"
#include "tests/testing/call_gate.h"
#include "tests/testing/shell.h"
#include "tests/testing/test_server.h"

namespace strata {
namespace {

using ::testing::HasSubstr;
using testing::TestServer;

v1::EncodeRequest EncodeRows(int rows) {
  v1::EncodeRequest r;
  r.mutable_model()->set_name("m");
  ToDenseMatrix(testing::GaussianMatrix(rows, 6, 1), r.mutable_rows());
  return r;
}

v1::TrainJobSpec LongJob(const std::string& model) {
  v1::TrainJobSpec spec;
  spec.set_model_name(model);
  spec.mutable_config()->set_finetune_epochs(1000000);
  spec.mutable_config()->mutable_early_stopping()->set_patience(0);
  return spec;
}

TEST(LimitsTest, MessagesAboveMaxMessageBytesAreRefused) {
  TestServer t("limits_message", [](StrataServer::Options* o) { o->max_message_bytes = 64 << 10; });
  t.Publish("m", *testing::SmallModel());
  EXPECT_TRUE(t.client->Encode(EncodeRows(100)).ok());  // ~2.4 KB
  const absl::Status s = t.client->Encode(EncodeRows(5000)).status();  // ~120 KB
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
}

TEST(LimitsTest, TrainingSetsAboveMaxTrainValuesAreRefused) {
  TestServer t("limits_train", [](StrataServer::Options* o) { o->max_train_values = 600; });
  v1::SubmitTrainJobRequest submit;
  submit.mutable_spec()->set_model_name("m");
  ToDenseMatrix(testing::GaussianMatrix(101, 6, 2), submit.mutable_rows());  // 606 values
  absl::Status s = t.client->SubmitTrainJob(submit).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_THAT(s.message(), HasSubstr("--max_train_values"));
  const Matrix rows = testing::GaussianMatrix(101, 6, 2);
  s = t.client->UploadTrainJob(submit.spec(), rows.data(), 101, 6).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_TRUE(t.client->ListTrainJobs("").value().jobs().empty());
}

TEST(LimitsTest, JobsBeyondMaxConcurrentJobsWaitInTheQueue) {
  TestServer t("limits_jobs", [](StrataServer::Options* o) { o->max_concurrent_jobs = 1; });
  v1::SubmitTrainJobRequest submit;
  *submit.mutable_spec() = LongJob("a");
  ToDenseMatrix(testing::GaussianMatrix(200, 6, 3), submit.mutable_rows());
  const std::string first = t.client->SubmitTrainJob(submit).value().id();
  submit.mutable_spec()->set_model_name("b");
  const std::string second = t.client->SubmitTrainJob(submit).value().id();
  // Bounded wait for the first to start; the second must still be queued.
  for (int i = 0; i < 400 && t.client->GetTrainJob(first)->state() != v1::TrainJob::RUNNING; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(t.client->GetTrainJob(first)->state(), v1::TrainJob::RUNNING);
  EXPECT_EQ(t.client->GetTrainJob(second)->state(), v1::TrainJob::QUEUED);
  ASSERT_TRUE(t.client->CancelTrainJob(first).ok());
  ASSERT_TRUE(t.client->CancelTrainJob(second).ok());
}

TEST(LimitsTest, ServingOnlyReplicaRefusesTrainJobsAndStillServes) {
  // --max_concurrent_jobs=0: a serving replica beside a designated trainer.
  // The trainer's record of a running job, in the shared store.
  v1::TrainJob running;
  running.set_id("job-1-abcd");
  running.set_state(v1::TrainJob::RUNNING);
  std::string records_dir;
  TestServer t("limits_serving_only", [&](StrataServer::Options* o) {
    o->max_concurrent_jobs = 0;
    records_dir = o->model_root + "/.jobs";
    std::system(("mkdir -p " + records_dir).c_str());
    std::ofstream(records_dir + "/job-1-abcd.pb") << running.SerializeAsString();
  });
  t.Publish("m", *testing::SmallModel());
  v1::SubmitTrainJobRequest submit;
  submit.mutable_spec()->set_model_name("m");
  ToDenseMatrix(testing::GaussianMatrix(50, 6, 2), submit.mutable_rows());
  absl::Status s = t.client->SubmitTrainJob(submit).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_THAT(s.message(), HasSubstr("trainer"));
  const Matrix rows = testing::GaussianMatrix(50, 6, 2);
  s = t.client->UploadTrainJob(submit.spec(), rows.data(), 50, 6).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_TRUE(t.client->ListTrainJobs("").value().jobs().empty());
  EXPECT_TRUE(t.client->Encode(EncodeRows(3)).ok());
  // It left the trainer's record alone (not marked interrupted).
  EXPECT_EQ(testing::ReadAll(records_dir + "/job-1-abcd.pb"), running.SerializeAsString());
}

// The sum of a counter's series whose labels include `labels`, in a scrape.
double SumOf(const std::string& scraped, const std::string& name, const std::string& labels) {
  double sum = 0;
  for (absl::string_view line : absl::StrSplit(scraped, '\n')) {
    if (!absl::StartsWith(line, name + "{") || !absl::StrContains(line, labels)) continue;
    double v = 0;
    if (absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &v)) sum += v;
  }
  return sum;
}

TEST(LimitsTest, ADeadlineThatPassesWhileTheServerHasTheCallEndsIt) {
  // The server reads the call, then holds it until the client has given up:
  // the deadline passes while the call is in the server's hands.
  testing::CallGate gate("/strata.v1.InferenceService/Encode",
                         testing::CallGate::Point::POST_RECV_MESSAGE);
  TestServer t("limits_deadline",
               [&](StrataServer::Options* o) { o->interceptors_for_test = gate.Interceptors(); });
  absl::Cleanup open_gate = [&] { gate.Open(); };
  t.Publish("m", *testing::SmallModel());
  StrataClient::Options options;
  options.target = absl::StrCat("127.0.0.1:", t.server->port());
  options.timeout = absl::Seconds(3);
  auto hurried = *StrataClient::Create(options);
  // Connected first, so the deadline is spent at the server, not connecting.
  ASSERT_TRUE(hurried->ListModels().ok());
  absl::Status expired = absl::UnknownError("not run");
  absl::Notification returned;
  std::thread caller([&] {
    expired = hurried->Encode(EncodeRows(20000)).status();
    returned.Notify();
  });
  const bool held = gate.WaitUntilHeld();
  // The client gives up while the server still holds the call.
  const bool gave_up = returned.WaitForNotificationWithTimeout(absl::Seconds(60));
  gate.Open();  // the server goes on with a call whose deadline has passed
  caller.join();
  ASSERT_TRUE(held) << "the call never reached the server: " << expired;
  ASSERT_TRUE(gave_up);
  EXPECT_EQ(expired.code(), absl::StatusCode::kDeadlineExceeded) << expired;
  // The server is unharmed: it answers the next call, ends the expired one
  // (bounded wait) and has no Encode left in flight.
  EXPECT_TRUE(t.client->Encode(EncodeRows(3)).ok());
  const std::string encode = "method=\"Encode\"";
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (SumOf(t.server->metrics()->Scrape(), "strata_rpc_requests_total", encode) < 2 &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  const std::string scraped = t.server->metrics()->Scrape();
  EXPECT_EQ(SumOf(scraped, "strata_rpc_requests_total", encode), 2) << scraped;
  EXPECT_EQ(SumOf(scraped, "strata_rpc_in_flight", encode), 0) << scraped;
  EXPECT_EQ(t.client->Health("", absl::Seconds(10)).value(),
            grpc::health::v1::HealthCheckResponse::SERVING);
}

}  // namespace
}  // namespace strata
