// The Open Inference Protocol (KServe V2) on strata-server's port, from a
// Python client generated here from proto/inference/open_inference_grpc.proto
// with protoc and grpc_python_plugin: every RPC, ModelInfer's answers against
// strata's own RPCs byte for byte, ModelStreamInfer, errors, metrics, drift
// and auth. The checks are in oip_e2e_test.py; each test runs a part of it.
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "client/strata_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/labelled_blobs.h"
#include "tests/testing/server_process.h"
#include "tests/testing/test_models.h"

namespace strata {
namespace {

using ::testing::HasSubstr;
using testing::ShellResult;

class OipTest : public ::testing::Test {
 protected:
  // A server (`flags` added) serving "classes": encoder 4-3 with a
  // classifier head over three labelled blobs, trained through a TrainJob;
  // and the protocol's Python stubs in dir_/oip.
  void Start(const std::string& flags, const std::string& token = "") {
    dir_ = testing::ScratchDir(
        absl::StrCat("oip_", ::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::system(("mkdir -p " + dir_ + "/data " + dir_ + "/oip").c_str());
    server_ = std::make_unique<testing::ServerProcess>(dir_, flags);
    ASSERT_GT(server_->port(), 0);
    StrataClient::Options options;
    options.target = Target();
    options.token = token;
    auto client = StrataClient::Create(options);
    ASSERT_TRUE(client.ok()) << client.status();
    const testing::LabelledRows data = testing::LabelledBlobs();
    auto job = (*client)->UploadTrainJob(testing::SupervisedSpec(data), data.rows.data(),
                                         data.rows.rows(), static_cast<int32_t>(data.rows.cols()));
    ASSERT_TRUE(job.ok()) << job.status();
    auto done = (*client)->WatchTrainJob(job->id(), [](const v1::TrainJob&) {});
    ASSERT_TRUE(done.ok()) << done.status();
    ASSERT_EQ(done->state(), v1::TrainJob::SUCCEEDED) << done->error();
    const ShellResult stubs = testing::Shell(absl::StrCat(
        STRATA_PROTOC, " -I ", STRATA_SOURCE_DIR, "/proto --python_out=", dir_,
        "/oip --grpc_python_out=", dir_, "/oip --plugin=protoc-gen-grpc_python=",
        STRATA_GRPC_PYTHON_PLUGIN, " inference/open_inference_grpc.proto"));
    ASSERT_EQ(stubs.exit_code, 0) << stubs.output;
  }
  std::string Target() const { return absl::StrCat("127.0.0.1:", server_->port()); }
  // Runs oip_e2e_test.py with `args`, killed after 150 s so that a hang
  // fails with its output.
  ShellResult Python(const std::string& args) {
    return testing::Shell(absl::StrCat("PYTHONPATH=", dir_, "/oip:", STRATA_PYTHON_DIR,
                                       " timeout -k 5 150 /usr/bin/python3 ", STRATA_SOURCE_DIR,
                                       "/tests/e2e/oip_e2e_test.py ", args));
  }

  std::string dir_;
  std::unique_ptr<testing::ServerProcess> server_;
};

TEST_F(OipTest, EveryRpcAnswersAsStrataOwnRpcsByteForByte) {
  ASSERT_NO_FATAL_FAILURE(Start(""));
  const ShellResult run =
      Python(absl::StrCat("answers ", Target(), " ", server_->metrics_port(), " classes"));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  for (const char* check :
       {"ok server", "ok model ready", "ok model metadata",
        "ok model infer: 9 outputs equal strata's own answers byte for byte, typed and raw",
        "ok drift window counts each ModelInfer's rows once",
        "ok model infer: no outputs named gives every output",
        "ok model infer: metric and layer parameters",
        "ok model infer: the KServe SDK's binary_data parameters", "ok model infer: errors",
        "ok model stream infer", "ok metrics", "all ok"}) {
    EXPECT_THAT(run.output, HasSubstr(check)) << run.output;
  }
}

// With --auth_read, every protocol RPC but ServerLive and ServerReady (for
// probes, as the health service) needs the token.
TEST_F(OipTest, ReadTokenGuardsEverythingButLivenessAndReadiness) {
  const std::string token = "oip-test-token";
  const std::string token_file = ::testing::TempDir() + "/oip_token";
  std::ofstream(token_file) << token << "\n";
  ASSERT_NO_FATAL_FAILURE(
      Start(absl::StrCat("--auth_token_file=", token_file, " --auth_read"), token));
  const ShellResult run = Python(absl::StrCat("auth ", Target(), " classes ", token));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("ok auth"));
}

}  // namespace
}  // namespace strata
