// UploadTrainJob over gRPC (server/training_service.cc): rows sent in
// chunks of any size arrive whole and in order.
#include <grpcpp/create_channel.h>

#include "core/trainer.h"
#include "gtest/gtest.h"
#include "proto/dense_matrix.h"
#include "tests/testing/test_server.h"

namespace strata {
namespace {

using testing::TestServer;

TEST(TrainingServiceTest, UploadedChunksOfAnySizeTrainAsTheWholeSet) {
  TestServer t("upload_chunks");
  const Matrix data = testing::ManifoldData(300, 5, 2, 8);
  v1::TrainJobSpec spec;
  spec.set_model_name("up");
  spec.mutable_config()->set_finetune_epochs(2);
  auto stub = v1::TrainingService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", t.server->port()), grpc::InsecureChannelCredentials()));
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

}  // namespace
}  // namespace strata
