// The Open Inference Protocol service in process (server/oip_service.h):
// many ModelStreamInfer streams at once answer in order with the unary
// answers' bytes (run under ASan and TSan in CI); readiness follows the
// server's; the version string selects by number or label.
#include "server/oip_service.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/server_builder.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/test_server.h"

namespace strata {
namespace {

using ::testing::HasSubstr;
using testing::TestServer;

// A one-row request for the score and the feature errors, raw.
inference::ModelInferRequest ScoreRequest(const Matrix& row, const std::string& id) {
  inference::ModelInferRequest request;
  request.set_model_name("m");
  request.set_id(id);
  auto* input = request.add_inputs();
  input->set_name("records");
  input->set_datatype("FP32");
  input->add_shape(row.rows());
  input->add_shape(row.cols());
  request.add_raw_input_contents(reinterpret_cast<const char*>(row.data()),
                                 static_cast<size_t>(row.size()) * sizeof(float));
  request.add_outputs()->set_name("score");
  request.add_outputs()->set_name("feature_errors");
  return request;
}

std::unique_ptr<inference::GRPCInferenceService::Stub> Stub(const TestServer& t) {
  return inference::GRPCInferenceService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", t.server->port()), grpc::InsecureChannelCredentials()));
}

// Eight streams at once, 40 messages each, every fifth asking for an output
// the model lacks: each stream's answers come in its order, the failures as
// error_message without ending the stream, and every answer is the bytes of
// the unary ModelInfer for the same row (the same code path: any difference
// is a defect, so the comparison is exact).
TEST(OipServiceTest, ManyStreamsAnswerInOrderWithTheUnaryBytes) {
  TestServer t("oip_streams");
  t.Publish("m", *testing::SmallModel());
  constexpr int kStreams = 8;
  constexpr int kMessages = 40;
  const Matrix x = testing::GaussianMatrix(kMessages, 6, 31);
  auto stub = Stub(t);
  std::vector<std::string> expected(kMessages);
  for (int i = 0; i < kMessages; ++i) {
    grpc::ClientContext context;
    inference::ModelInferResponse response;
    const grpc::Status s =
        stub->ModelInfer(&context, ScoreRequest(x.middleRows(i, 1), "u"), &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(response.raw_output_contents_size(), 2);
    expected[static_cast<size_t>(i)] =
        response.raw_output_contents(0) + response.raw_output_contents(1);
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int k = 0; k < kStreams; ++k) {
    threads.emplace_back([&, k] {
      grpc::ClientContext context;
      auto stream = stub->ModelStreamInfer(&context);
      std::thread writer([&] {
        for (int i = 0; i < kMessages; ++i) {
          inference::ModelInferRequest request =
              ScoreRequest(x.middleRows(i, 1), absl::StrCat(k, "/", i));
          if (i % 5 == 4) request.mutable_outputs(1)->set_name("no_such_output");
          if (!stream->Write(request)) break;
        }
        stream->WritesDone();
      });
      inference::ModelStreamInferResponse answer;
      int i = 0;
      for (; stream->Read(&answer); ++i) {
        const std::string where = absl::StrCat("stream ", k, " answer ", i);
        if (answer.infer_response().id() != absl::StrCat(k, "/", i)) {
          ADD_FAILURE() << where << " has id " << answer.infer_response().id();
          ++failures;
          continue;
        }
        if (i % 5 == 4) {
          EXPECT_THAT(answer.error_message(),
                      HasSubstr("INVALID_ARGUMENT: output 'no_such_output'"))
              << where;
          continue;
        }
        EXPECT_EQ(answer.error_message(), "") << where;
        const auto& r = answer.infer_response();
        if (r.raw_output_contents_size() != 2 ||
            r.raw_output_contents(0) + r.raw_output_contents(1) !=
                expected[static_cast<size_t>(i)]) {
          ADD_FAILURE() << where << " differs from the unary answer";
          ++failures;
        }
      }
      writer.join();
      EXPECT_EQ(i, kMessages) << "stream " << k;
      EXPECT_TRUE(stream->Finish().ok()) << "stream " << k;
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

// The service alone, with a readiness the test sets: ServerReady, and
// ModelReady for a served model, say false while the server drains;
// ServerLive stays true. Versions: a number, a label, or neither.
TEST(OipServiceTest, ReadinessFollowsTheServerAndVersionsSelect) {
  TestServer t("oip_ready");
  const int64_t v1 = t.Publish("m", *testing::SmallModel(6, 1));
  const int64_t v2 = t.Publish("m", *testing::SmallModel(6, 2));
  ASSERT_TRUE(t.client->SetLabel("m", "stable", v1).ok());
  std::atomic<bool> ready{true};
  OipServiceImpl::Options options;
  InferenceServiceImpl::Options inference_options;
  inference_options.registry = t.server->registry();
  InferenceServiceImpl inference(inference_options);
  options.inference = &inference;
  options.ready = [&ready] { return ready.load(); };
  OipServiceImpl service(options);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_GT(port, 0);
  auto stub = inference::GRPCInferenceService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  const auto server_ready = [&] {
    grpc::ClientContext context;
    inference::ServerReadyResponse response;
    EXPECT_TRUE(stub->ServerReady(&context, {}, &response).ok());
    return response.ready();
  };
  const auto model_ready = [&](const std::string& version) {
    grpc::ClientContext context;
    inference::ModelReadyRequest request;
    request.set_name("m");
    request.set_version(version);
    inference::ModelReadyResponse response;
    EXPECT_TRUE(stub->ModelReady(&context, request, &response).ok());
    return response.ready();
  };
  const auto live = [&] {
    grpc::ClientContext context;
    inference::ServerLiveResponse response;
    EXPECT_TRUE(stub->ServerLive(&context, {}, &response).ok());
    return response.live();
  };
  EXPECT_TRUE(server_ready());
  EXPECT_TRUE(model_ready(""));
  EXPECT_TRUE(model_ready("stable"));
  EXPECT_FALSE(model_ready("canary"));
  ready = false;
  EXPECT_FALSE(server_ready());
  EXPECT_FALSE(model_ready(""));
  EXPECT_TRUE(live());
  ready = true;

  // Which version answers: the latest, a number, a label.
  const auto answered = [&](const std::string& version) {
    grpc::ClientContext context;
    inference::ModelInferRequest request = ScoreRequest(testing::GaussianMatrix(1, 6, 5), "v");
    request.set_model_version(version);
    inference::ModelInferResponse response;
    const grpc::Status s = stub->ModelInfer(&context, request, &response);
    return s.ok() ? response.model_version() : s.error_message();
  };
  // The default policy serves the latest; the label pins version 1.
  EXPECT_EQ(answered(""), absl::StrCat(v2));
  EXPECT_EQ(answered(absl::StrCat(v2)), absl::StrCat(v2));
  EXPECT_EQ(answered("stable"), absl::StrCat(v1));
  EXPECT_THAT(answered("0"), HasSubstr("model version '0' is not a version number"));
  server->Shutdown();
}

}  // namespace
}  // namespace strata
