// StrataServer as a whole, beyond any one RPC: store writes wait on its
// store queue, not on gRPC's threads; model versions come and go under load
// (hot swap, hand-dropped and corrupt versions, their request series);
// shutdown lets calls in flight finish; health is served per service.
#include "server/strata_server.h"

#include <grpcpp/create_channel.h>

#include <atomic>
#include <fstream>
#include <future>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "core/model/model_io.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/testing/call_gate.h"
#include "tests/testing/server_requests.h"
#include "tests/testing/test_server.h"

namespace strata {
namespace {

using testing::CodeOf;
using testing::Dense;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::Spec;
using testing::TestServer;
using testing::WaitForJob;

// SetLabel, SubmitTrainJob and CancelTrainJob write the store or a job
// record (fsync) and wait on the registry's locks: they run on the server's
// store queue, not on gRPC's callback threads. With the queue's one thread
// held, each of them waits there (queued, nothing written yet) while reads
// answer; once released, they all complete, in order.
TEST(StrataServerTest, StoreWritesWaitOnTheStoreQueueNotOnCallbackThreads) {
  TestServer t("server_store_queue");
  const std::unique_ptr<Model> model = testing::SmallModel();
  t.Publish("m", *model);
  t.Publish("m", *model);
  WorkQueue* queue = t.server->store_work();
  ASSERT_NE(queue, nullptr);
  std::promise<void> gate;
  std::shared_future<void> open = gate.get_future().share();
  ASSERT_TRUE(queue->Submit([open] { open.wait(); }));
  // Declared before the gate's release, so destroyed after it: a failed
  // assertion opens the gate first, and the calls then end at once.
  std::future<absl::StatusOr<v1::SetLabelResponse>> label;
  std::future<absl::StatusOr<v1::TrainJob>> submitted, cancelled;
  absl::Cleanup release = [&gate] { gate.set_value(); };
  const auto wait_for_queued = [queue](int64_t n) {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (queue->queued() != n && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
    return queue->queued();
  };
  ASSERT_EQ(wait_for_queued(0), 0);  // the gate closure is running

  label = std::async(std::launch::async, [&] { return t.client->SetLabel("m", "prod", 1); });
  ASSERT_EQ(wait_for_queued(1), 1);
  v1::SubmitTrainJobRequest request;
  request.mutable_spec()->set_model_name("n");
  request.mutable_spec()->mutable_config()->set_finetune_epochs(1);
  *request.mutable_rows() = Dense(testing::GaussianMatrix(200, 6, 1));
  submitted = std::async(std::launch::async, [&] { return t.client->SubmitTrainJob(request); });
  ASSERT_EQ(wait_for_queued(2), 2);
  cancelled = std::async(std::launch::async, [&] { return t.client->CancelTrainJob("job-404"); });
  ASSERT_EQ(wait_for_queued(3), 3);

  // Nothing written yet, and reads do not wait behind the queue.
  EXPECT_TRUE((*ModelStore::Create({t.models()}))->ReadLabels("m")->labels().empty());
  EXPECT_TRUE(t.client->ListTrainJobs("")->jobs().empty());
  auto served = t.client->GetModel(Spec("m"));
  ASSERT_TRUE(served.ok()) << served.status();
  EXPECT_EQ(served->model().version(), 2);

  std::move(release).Invoke();
  const auto labels = label.get();
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_EQ(labels->labels().at("prod"), 1);
  const auto job = submitted.get();
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(CodeOf(cancelled.get().status()), absl::StatusCode::kNotFound);
  EXPECT_EQ(WaitForJob(t, job->id()).state(), v1::TrainJob::SUCCEEDED);
  EXPECT_EQ(t.client->GetModel(Spec("m", 0))->model().version(), 2);
  v1::ModelSpec prod = Spec("m");
  prod.set_label("prod");
  EXPECT_EQ(t.client->GetModel(prod)->model().version(), 1);
}

TEST(StrataServerTest, HotSwapDropsNoCall) {
  TestServer t("server_hot_swap");
  t.Publish("m", *testing::SmallModel(6, 1));
  std::atomic<bool> stop{false};
  std::atomic<int> calls{0}, failures{0};
  std::atomic<int64_t> last_version{0};
  std::vector<int64_t> versions;  // read only after the loop has joined
  std::thread loop([&] {
    v1::EncodeRequest encode;
    *encode.mutable_model() = Spec("m");
    *encode.mutable_rows() = Dense(testing::GaussianMatrix(4, 6, 3));
    const absl::Time deadline = absl::Now() + absl::Seconds(20);  // bounded in time and count
    while (!stop && calls < 200000 && absl::Now() < deadline) {
      auto r = t.client->Encode(encode);
      ++calls;
      if (!r.ok()) {
        ++failures;
      } else if (versions.empty() || versions.back() != r->model().version()) {
        versions.push_back(r->model().version());
        last_version = r->model().version();
      }
    }
  });
  // Calls are answered by version 1 before version 2 appears (bounded wait:
  // under TSan the first call alone can take a few hundred ms).
  for (int i = 0; i < 1000 && last_version != 1; ++i) absl::SleepFor(absl::Milliseconds(10));
  if (last_version != 1) {
    stop = true;
    loop.join();
    FAIL() << "no call was answered by version 1";
  }
  absl::SleepFor(absl::Milliseconds(100));
  // Published by hand: the poll picks it up while calls keep coming.
  auto store = ModelStore::Create({t.models()});
  ASSERT_EQ(*(*store)->Publish("m", *testing::SmallModel(6, 2)), 2);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (last_version != 2 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  absl::SleepFor(absl::Milliseconds(200));
  stop = true;
  loop.join();
  EXPECT_EQ(failures, 0);
  EXPECT_GT(calls, 10);
  EXPECT_EQ(versions, (std::vector<int64_t>{1, 2}));
}

TEST(StrataServerTest, UnloadedVersionsLeaveNoRequestSeries) {
  TestServer t("server_series");
  t.Publish("m", *testing::SmallModel(6, 1));
  v1::EncodeRequest encode;
  *encode.mutable_model() = Spec("m");
  *encode.mutable_rows() = Dense(testing::GaussianMatrix(2, 6, 1));
  ASSERT_TRUE(t.client->Encode(encode).ok());
  const std::string v1_series = "method=\"Encode\",model=\"m\",version=\"1\"";
  EXPECT_THAT(t.server->metrics()->Scrape(), HasSubstr(v1_series));
  t.Publish("m", *testing::SmallModel(6, 2));  // the policy serves the latest only
  ASSERT_TRUE(t.client->Encode(encode).ok());
  const std::string scraped = t.server->metrics()->Scrape();
  EXPECT_THAT(scraped, Not(HasSubstr(v1_series)));
  EXPECT_THAT(scraped, HasSubstr("method=\"Encode\",model=\"m\",version=\"2\""));
}

TEST(StrataServerTest, HandDroppedVersionIsServedAndCorruptOneSkipped) {
  TestServer t("server_dropped");
  // A version written elsewhere and renamed into the store.
  const std::string tmp = t.models() + "/.incoming";
  std::system(("mkdir -p " + tmp + " " + t.models() + "/m").c_str());
  ASSERT_TRUE(WriteModelFile(*testing::SmallModel(), tmp + "/" + kModelFileName).ok());
  ASSERT_EQ(rename(tmp.c_str(), (t.models() + "/m/1").c_str()), 0);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!t.client->GetModel(Spec("m")).ok() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_EQ(t.client->GetModel(Spec("m"))->model().version(), 1);
  // A corrupt version 2: skipped, version 1 keeps serving.
  std::system(("mkdir -p " + t.models() + "/m/2").c_str());
  std::ofstream(t.models() + "/m/2/" + kModelFileName) << "garbage";
  t.server->registry()->Refresh();
  EXPECT_EQ(t.client->GetModel(Spec("m"))->model().version(), 1);
  EXPECT_EQ(CodeOf(t.client->GetModel(Spec("m", 2)).status()), absl::StatusCode::kNotFound);
  // ... and counted where operators alert on it.
  EXPECT_THAT(t.server->metrics()->Scrape(),
              ::testing::HasSubstr("strata_model_load_failures_total{model=\"m\"} 1"));
}

TEST(StrataServerTest, ShutdownLetsCallsInFlightFinishAndRefusesNewOnes) {
  // The first Encode is held once the server has read it: in flight for as
  // long as the test needs, whatever the machine's speed.
  testing::CallGate gate("/strata.v1.InferenceService/Encode",
                         testing::CallGate::Point::POST_RECV_MESSAGE);
  TestServer t("server_grace",
               [&](StrataServer::Options* o) { o->interceptors_for_test = gate.Interceptors(); });
  absl::Cleanup open_gate = [&] { gate.Open(); };
  t.Publish("m", *testing::SmallModel());
  v1::EncodeRequest encode;
  *encode.mutable_model() = Spec("m");
  *encode.mutable_rows() = Dense(testing::GaussianMatrix(1, 6, 1));
  absl::StatusOr<v1::EncodeResponse> in_flight = absl::UnknownError("not run");
  std::thread caller([&] { in_flight = t.client->Encode(encode); });
  const bool held = gate.WaitUntilHeld();
  std::atomic<bool> shutdown_returned{false};
  std::thread stopper([&] {
    t.server->Shutdown(absl::Now() + absl::Seconds(60));
    shutdown_returned = true;
  });
  // Calls made before the shutdown takes hold are answered; once it has,
  // they are refused. Call until one is (bounded). A call that races the
  // shutdown (the server has it, the client has not yet heard that the
  // server is going away) is cancelled by gRPC instead.
  absl::Status late;
  std::vector<absl::StatusCode> codes;
  for (int i = 0; i < 2000 && late.code() != absl::StatusCode::kUnavailable; ++i) {
    late = t.client->Encode(encode).status();
    if (codes.empty() || codes.back() != late.code()) codes.push_back(late.code());
  }
  const bool returned_early = shutdown_returned;
  gate.Open();
  caller.join();
  stopper.join();
  EXPECT_TRUE(held) << "the first call never reached the server";
  EXPECT_EQ(late.code(), absl::StatusCode::kUnavailable) << late;
  for (absl::StatusCode code : codes) {
    EXPECT_TRUE(code == absl::StatusCode::kOk || code == absl::StatusCode::kCancelled ||
                code == absl::StatusCode::kUnavailable)
        << absl::StatusCodeToString(code);
  }
  EXPECT_FALSE(returned_early) << "Shutdown returned with a call in flight";
  // The held call went on after the shutdown began, and was answered.
  ASSERT_TRUE(in_flight.ok()) << in_flight.status();
  EXPECT_EQ(in_flight->model().version(), 1);
  EXPECT_EQ(in_flight->features().rows(), 1);
}

TEST(StrataServerTest, HealthIsServedOverallAndPerService) {
  TestServer t("server_health");
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", t.server->port()),
                                     grpc::InsecureChannelCredentials());
  auto health = grpc::health::v1::Health::NewStub(channel);
  for (const char* service :
       {"", "strata.v1.InferenceService", "strata.v1.TrainingService", "strata.v1.ModelService"}) {
    grpc::ClientContext context;
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    ASSERT_TRUE(health->Check(&context, request, &response).ok()) << service;
    EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING) << service;
  }
  t.server->Shutdown(absl::Now());
  grpc::ClientContext context;
  grpc::health::v1::HealthCheckResponse response;
  EXPECT_FALSE(health->Check(&context, {}, &response).ok());  // refused after shutdown
}

}  // namespace
}  // namespace strata
