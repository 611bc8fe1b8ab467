// Bad requests over gRPC get exact status codes and messages that say what
// is wrong (unknown models, bad rows, limits, bad streams and uploads), and
// no error message outgrows the client's metadata limit.
#include <grpcpp/create_channel.h>

#include <cmath>
#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/server_requests.h"
#include "tests/testing/test_server.h"

namespace strata {
namespace {

using testing::Dense;
using ::testing::HasSubstr;
using testing::Spec;
using testing::TestServer;

TEST(StrataServerTest, BadInputGetsExactCodesAndMessages) {
  TestServer t("server_bad_input", [](StrataServer::Options* o) { o->max_request_rows = 10; });
  t.Publish("m", *testing::SmallModel());
  auto encode = [&](const v1::ModelSpec& spec, const v1::DenseMatrix& rows, int layer = 0) {
    v1::EncodeRequest r;
    *r.mutable_model() = spec;
    *r.mutable_rows() = rows;
    r.set_layer(layer);
    return t.client->Encode(r).status();
  };
  const v1::DenseMatrix good = Dense(testing::GaussianMatrix(3, 6, 1));
  auto expect = [](const absl::Status& s, absl::StatusCode code, const std::string& text) {
    EXPECT_EQ(s.code(), code) << s;
    EXPECT_THAT(s.message(), HasSubstr(text));
  };
  expect(encode(Spec("nope"), good), absl::StatusCode::kNotFound, "model 'nope' is not served");
  expect(encode(Spec("m", 7), good), absl::StatusCode::kNotFound, "version 7 is not served");
  v1::ModelSpec labelled = Spec("m");
  labelled.set_label("gold");
  expect(encode(labelled, good), absl::StatusCode::kNotFound, "no label 'gold'");
  expect(encode(Spec("m"), Dense(testing::GaussianMatrix(3, 5, 1))),
         absl::StatusCode::kInvalidArgument, "expected 6 columns");
  Matrix nan = testing::GaussianMatrix(3, 6, 1);
  nan(1, 2) = std::nanf("");
  expect(encode(Spec("m"), Dense(nan)), absl::StatusCode::kInvalidArgument,
         "row 1, column 2: value is NaN");
  nan(1, 2) = std::numeric_limits<float>::infinity();
  expect(encode(Spec("m"), Dense(nan)), absl::StatusCode::kInvalidArgument, "infinite");
  expect(encode(Spec("m"), v1::DenseMatrix()), absl::StatusCode::kInvalidArgument,
         "the batch is empty");
  expect(encode(Spec("m"), Dense(testing::GaussianMatrix(11, 6, 1))),
         absl::StatusCode::kInvalidArgument, "11 rows exceed the limit of 10");
  v1::DenseMatrix short_values = good;
  short_values.mutable_values()->RemoveLast();
  expect(encode(Spec("m"), short_values), absl::StatusCode::kInvalidArgument,
         "need 18 values, got 17");
  expect(encode(Spec("m"), good, 3), absl::StatusCode::kInvalidArgument, "layer 3 does not exist");
  // Column names, when sent, must be the model's, in its order.
  v1::DenseMatrix named = good;
  for (const char* n : {"f0", "f1", "f2", "f3", "f4", "f5"}) named.add_column_names(n);
  EXPECT_TRUE(encode(Spec("m"), named).ok());
  named.mutable_column_names()->SwapElements(0, 1);
  expect(encode(Spec("m"), named), absl::StatusCode::kInvalidArgument,
         "column 0 is 'f1' where the model has 'f0'");
  named.mutable_column_names()->RemoveLast();
  expect(encode(Spec("m"), named), absl::StatusCode::kInvalidArgument, "5 names for 6 columns");
  expect(encode(Spec(""), good), absl::StatusCode::kInvalidArgument, "model.name is required");

  v1::AnomalyScoreRequest score;
  *score.mutable_model() = Spec("m");
  *score.mutable_rows() = good;
  score.mutable_options()->set_metric(static_cast<v1::ScoreOptions::Metric>(9));
  expect(t.client->AnomalyScore(score).status(), absl::StatusCode::kInvalidArgument,
         "options.metric");
  // Finite values so large that the model overflows (found by the request
  // fuzzer: they used to reach the percentile lookup as NaN and crash it).
  Matrix huge = testing::GaussianMatrix(3, 6, 8);
  huge(2, 4) = 3e38f;
  v1::AnomalyScoreRequest overflow;
  *overflow.mutable_model() = Spec("m");
  *overflow.mutable_rows() = Dense(huge);
  expect(t.client->AnomalyScore(overflow).status(), absl::StatusCode::kInvalidArgument,
         "row 2: the model's output is not finite for this row (column 4");
  expect(encode(Spec("m"), Dense(huge)), absl::StatusCode::kInvalidArgument, "row 2");
  // A bad message in a stream ends it with the message's index.
  int sent = 0;
  const absl::Status stream = t.client->StreamAnomalyScore(
      [&](v1::AnomalyScoreRequest* r) {
        if (sent == 3) return false;
        *r->mutable_model() = Spec("m");
        *r->mutable_rows() = sent == 1 ? Dense(nan) : good;
        ++sent;
        return true;
      },
      [](const v1::AnomalyScoreResponse&) {});
  expect(stream, absl::StatusCode::kInvalidArgument,
         "stream message 1 (rows 3 to 5 of the stream, counting from 0): rows: row 1, column 2");

  expect(t.client->GetTrainJob("missing").status(), absl::StatusCode::kNotFound, "no train job");
  expect(t.client->SetLabel("m", "stable", 4).status(), absl::StatusCode::kNotFound,
         "no version 4 in the store");
  expect(t.client->SetLabel("m", "a/b", 1).status(), absl::StatusCode::kInvalidArgument, "label");
  v1::SubmitTrainJobRequest submit;
  submit.mutable_spec()->set_model_name("../up");
  *submit.mutable_rows() = good;
  expect(t.client->SubmitTrainJob(submit).status(), absl::StatusCode::kInvalidArgument,
         "spec.model_name");
  submit.mutable_spec()->set_model_name("ok");
  submit.clear_rows();
  expect(t.client->SubmitTrainJob(submit).status(), absl::StatusCode::kInvalidArgument,
         "neither rows nor csv_path");
  submit.set_csv_path("x.csv");
  auto no_root =
      TestServer("server_no_data_root", [](StrataServer::Options* o) { o->data_root.clear(); });
  expect(no_root.client->SubmitTrainJob(submit).status(), absl::StatusCode::kFailedPrecondition,
         "--data_root");
  // An upload whose first message is not a spec.
  grpc::ClientContext context;
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", t.server->port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = v1::TrainingService::NewStub(channel);
  v1::TrainJob job;
  auto writer = stub->UploadTrainJob(&context, &job);
  v1::UploadTrainJobRequest chunk;
  *chunk.mutable_chunk() = good;
  writer->Write(chunk);
  writer->WritesDone();
  const grpc::Status upload = writer->Finish();
  EXPECT_EQ(upload.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(upload.error_message(), HasSubstr("first message must carry the spec"));
  // The server is still fine.
  EXPECT_TRUE(encode(Spec("m"), good).ok());
}

// Issue 14: a model name or label over the limit is INVALID_ARGUMENT from
// the server, not RESOURCE_EXHAUSTED from the client's 8 KiB limit on the
// response metadata that carries an error message echoing the name.
TEST(StrataServerTest, OverlongNamesAreInvalidAndNoErrorOutgrowsTheMetadataLimit) {
  TestServer t("server_long_names");
  t.Publish("m", *testing::SmallModel());
  const std::string name(10000, 'a');
  const v1::DenseMatrix good = Dense(testing::GaussianMatrix(3, 6, 1));
  auto expect = [](const absl::Status& s, absl::StatusCode code, const std::string& text) {
    EXPECT_EQ(s.code(), code) << s.message().substr(0, 200);
    EXPECT_THAT(std::string(s.message()), HasSubstr(text));
  };
  v1::EncodeRequest encode;
  *encode.mutable_model() = Spec(name);
  *encode.mutable_rows() = good;
  expect(t.client->Encode(encode).status(), absl::StatusCode::kInvalidArgument,
         "model name must have 1 to 128 characters");
  v1::ReconstructRequest reconstruct;
  *reconstruct.mutable_model() = Spec(name);
  *reconstruct.mutable_rows() = good;
  expect(t.client->Reconstruct(reconstruct).status(), absl::StatusCode::kInvalidArgument,
         "model name");
  v1::AnomalyScoreRequest score;
  *score.mutable_model() = Spec(name);
  *score.mutable_rows() = good;
  expect(t.client->AnomalyScore(score).status(), absl::StatusCode::kInvalidArgument, "model name");
  bool sent = false;
  expect(t.client->StreamAnomalyScore(
             [&](v1::AnomalyScoreRequest* r) {
               if (sent) return false;
               *r = score;
               return sent = true;
             },
             [](const v1::AnomalyScoreResponse&) {}),
         absl::StatusCode::kInvalidArgument, "model name");
  expect(t.client->GetModel(Spec(name)).status(), absl::StatusCode::kInvalidArgument, "model name");
  expect(t.client->DriftReport(Spec(name)).status(), absl::StatusCode::kInvalidArgument,
         "model name");
  expect(t.client->SetLabel(name, "stable", 1).status(), absl::StatusCode::kInvalidArgument,
         "model name");
  v1::ModelSpec labelled = Spec("m");
  labelled.set_label(name);
  expect(t.client->GetModel(labelled).status(), absl::StatusCode::kInvalidArgument,
         "label must have 1 to 128 characters");
  // Messages that echo a long id are clipped to fit.
  for (const absl::Status& s :
       {t.client->GetTrainJob(name).status(), t.client->CancelTrainJob(name).status()}) {
    expect(s, absl::StatusCode::kNotFound, "no train job 'aaaa");
    EXPECT_LT(s.message().size(), 2000u);
  }
}

}  // namespace
}  // namespace strata
