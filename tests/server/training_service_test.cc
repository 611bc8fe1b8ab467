// TrainingService over gRPC (server/training_service.cc): uploaded rows
// arrive whole and in order, and count against the queue's bound while they
// arrive.
#include <grpcpp/create_channel.h>

#include "absl/time/clock.h"
#include "core/train/trainer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/dense_matrix.h"
#include "tests/testing/test_server.h"

namespace strata {
namespace {

using testing::TestServer;

// A raw stub, for uploads message by message.
std::unique_ptr<v1::TrainingService::Stub> Stub(const TestServer& t) {
  return v1::TrainingService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", t.server->port()), grpc::InsecureChannelCredentials()));
}

TEST(TrainingServiceTest, UploadedChunksOfAnySizeTrainAsTheWholeSet) {
  TestServer t("upload_chunks");
  const Matrix data = testing::ManifoldData(300, 5, 2, 8);
  v1::TrainJobSpec spec;
  spec.set_model_name("up");
  spec.mutable_config()->set_finetune_epochs(2);
  auto stub = Stub(t);
  grpc::ClientContext context;
  v1::TrainJob job;
  auto writer = stub->UploadTrainJob(&context, &job);
  v1::UploadTrainJobRequest message;
  *message.mutable_spec() = spec;
  ASSERT_TRUE(writer->Write(message));
  // Chunks of 1, 2, 3, ... rows: the buffer grows many times, by more and
  // by less than it holds.
  Eigen::Index sent = 0;
  for (Eigen::Index n = 1; sent < data.rows(); ++n) {
    const Eigen::Index take = std::min(n, data.rows() - sent);
    message.Clear();
    ToDenseMatrix(data.middleRows(sent, take), message.mutable_chunk());
    ASSERT_TRUE(writer->Write(message));
    sent += take;
  }
  writer->WritesDone();
  const grpc::Status status = writer->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(job.rows(), 300);
  EXPECT_EQ(job.cols(), 5);
  absl::StatusOr<v1::TrainJob> done = t.client->WatchTrainJob(job.id(), [](const v1::TrainJob&) {});
  ASSERT_TRUE(done.ok()) << done.status();
  ASSERT_EQ(done->state(), v1::TrainJob::SUCCEEDED) << done->error();
  // The same config on the same rows, trained here: training is
  // deterministic by seed, so any row lost, repeated or moved shows.
  Trainer::Options options;
  options.config = spec.config();
  options.input_dim = 5;
  const std::unique_ptr<Model> local = *(*Trainer::Create(options))->Train(data);
  t.server->registry()->Refresh();
  v1::ModelSpec served;
  served.set_name("up");
  absl::StatusOr<ServableModel> m = t.server->registry()->Get(served);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(*m->model->Encode(data, 2), *local->Encode(data, 2));
}

// An upload's rows count against --max_queued_train_values while they
// arrive: a second upload that would pass the bound is refused, and a failed
// upload gives its share back.
TEST(TrainingServiceTest, UploadsInProgressAreBoundedWithQueuedJobs) {
  TestServer t("upload_bound", [](StrataServer::Options* o) { o->max_queued_train_values = 600; });
  auto stub = Stub(t);
  v1::UploadTrainJobRequest spec;
  spec.mutable_spec()->set_model_name("up");
  spec.mutable_spec()->mutable_config()->set_finetune_epochs(1);
  const auto chunk = [](int rows, int cols, uint64_t seed) {
    v1::UploadTrainJobRequest m;
    ToDenseMatrix(testing::ManifoldData(rows, cols, 2, seed), m.mutable_chunk());
    return m;
  };
  // Sends `messages`, then ends the upload; its status and job.
  const auto upload = [&](const std::vector<v1::UploadTrainJobRequest>& messages) {
    grpc::ClientContext context;
    v1::TrainJob job;
    auto writer = stub->UploadTrainJob(&context, &job);
    for (const auto& m : messages) {
      if (!writer->Write(m)) break;
    }
    writer->WritesDone();
    return std::make_pair(writer->Finish(), job);
  };

  // A: 100 rows x 5 held open (500 values).
  grpc::ClientContext a_context;
  v1::TrainJob a_job;
  auto a = stub->UploadTrainJob(&a_context, &a_job);
  ASSERT_TRUE(a->Write(spec));
  ASSERT_TRUE(a->Write(chunk(100, 5, 1)));
  // Wait (bounded) until the server has read A's chunk: a reservation of
  // 250 more is then refused. Probing the manager, not uploading jobs that
  // queue and hold values of their own: a queued probe job could take the
  // room A's chunk needs, and A itself would be refused.
  bool a_counted = false;
  for (int i = 0; i < 1000 && !a_counted; ++i) {
    if (t.server->jobs()->ReserveUpload(250).ok()) {
      t.server->jobs()->ReleaseUpload(250);
      absl::SleepFor(absl::Milliseconds(5));
    } else {
      a_counted = true;
    }
  }
  ASSERT_TRUE(a_counted) << "A's chunk was not counted within 5 s";
  // B needs 250 more: refused, naming the flag.
  const std::pair<grpc::Status, v1::TrainJob> b = upload({spec, chunk(50, 5, 2)});
  ASSERT_EQ(b.first.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << b.first.error_message();
  EXPECT_NE(b.first.error_message().find("uploads in progress"), std::string::npos)
      << b.first.error_message();
  EXPECT_NE(b.first.error_message().find("--max_queued_train_values"), std::string::npos);
  // A completes and trains.
  a->WritesDone();
  const grpc::Status a_status = a->Finish();
  ASSERT_TRUE(a_status.ok()) << a_status.error_message();
  EXPECT_EQ(t.client->WatchTrainJob(a_job.id(), [](const v1::TrainJob&) {})->state(),
            v1::TrainJob::SUCCEEDED);

  // C reserves 60 x 5 = 300, then fails on a chunk of another width.
  const auto c = upload({spec, chunk(60, 5, 3), chunk(10, 4, 4)});
  ASSERT_EQ(c.first.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.first.error_message();
  // D needs 500: it fits once C's 300 are given back (C's end reaches the
  // server just after its client sees the status: retry, bounded).
  std::pair<grpc::Status, v1::TrainJob> d;
  for (int i = 0; i < 200; ++i) {
    d = upload({spec, chunk(100, 5, 5)});
    if (d.first.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_TRUE(d.first.ok()) << d.first.error_message();
}

// Named training rows over the wire: SubmitTrainJob's rows.column_names
// become the model's feature names, upload chunks must name their columns
// alike (they are joined by position), and spec names that contradict the
// rows' are refused at once, with no job.
TEST(TrainingServiceTest, TrainingRowsThatNameTheirColumnsGiveTheModelItsNames) {
  TestServer t("named_rows");
  const Matrix data = testing::ManifoldData(120, 3, 2, 9);
  const std::vector<std::string> names = {"a", "b", "c"};
  v1::SubmitTrainJobRequest submit;
  submit.mutable_spec()->set_model_name("named");
  submit.mutable_spec()->mutable_config()->set_finetune_epochs(1);
  ToDenseMatrix(data, submit.mutable_rows(), names);
  absl::StatusOr<v1::TrainJob> job = t.client->SubmitTrainJob(submit);
  ASSERT_TRUE(job.ok()) << job.status();
  absl::StatusOr<v1::TrainJob> done =
      t.client->WatchTrainJob(job->id(), [](const v1::TrainJob&) {});
  ASSERT_TRUE(done.ok()) << done.status();
  ASSERT_EQ(done->state(), v1::TrainJob::SUCCEEDED) << done->error();
  v1::ModelSpec named;
  named.set_name("named");
  EXPECT_EQ(t.client->GetModel(named)->feature_names_size(), 3);
  EXPECT_EQ(t.client->GetModel(named)->feature_names(2), "c");
  // Spec names in another order than the rows': refused, no job.
  for (const char* n : {"c", "b", "a"}) submit.mutable_spec()->add_feature_names(n);
  const absl::Status contradicted = t.client->SubmitTrainJob(submit).status();
  EXPECT_EQ(contradicted.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(contradicted.message()),
              ::testing::HasSubstr("column 0 is 'c' in spec.feature_names and 'a' in the data"));

  // An upload whose second chunk names the columns otherwise than the first.
  auto stub = Stub(t);
  grpc::ClientContext context;
  v1::TrainJob uploaded;
  auto writer = stub->UploadTrainJob(&context, &uploaded);
  v1::UploadTrainJobRequest message;
  submit.mutable_spec()->clear_feature_names();
  *message.mutable_spec() = submit.spec();
  ASSERT_TRUE(writer->Write(message));
  ToDenseMatrix(data.topRows(60), message.mutable_chunk(), names);
  ASSERT_TRUE(writer->Write(message));
  ToDenseMatrix(data.bottomRows(60), message.mutable_chunk(),
                std::vector<std::string>{"c", "b", "a"});
  writer->Write(message);  // the server may have ended the call by now
  writer->WritesDone();
  const grpc::Status status = writer->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(),
              ::testing::HasSubstr("upload message 2: column_names (c, b, a) differ from upload "
                                   "message 1's (a, b, c); chunks are joined by position"));
  EXPECT_EQ(t.client->ListTrainJobs("")->jobs_size(), 1);
}

}  // namespace
}  // namespace strata
