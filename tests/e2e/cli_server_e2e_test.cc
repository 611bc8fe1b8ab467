// The real binaries as a user runs them: strata-server on a free loopback
// port, driven by the strata CLI.
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/server_process.h"
#include "tests/testing/test_models.h"

namespace strata {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::ServerProcess;
using Result = testing::ShellResult;

// The start of a long output, for failure messages.
std::string Head(const Result& r) { return r.output.substr(0, 300); }

class CliServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // One directory per test: ctest runs tests of this file in parallel.
    dir_ = testing::ScratchDir(
        absl::StrCat("e2e_", ::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::system(("mkdir -p " + dir_ + "/data && cp data/thyroid.csv data/configs/thyroid.json " +
                 dir_ + "/data/")
                    .c_str());
    server_ = std::make_unique<ServerProcess>(dir_);
    ASSERT_GT(server_->port(), 0);
  }
  void TearDown() override { server_.reset(); }

  Result Strata(const std::string& args) { return server_->Strata(args); }

  std::string dir_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(CliServerTest, TrainThenEncodeScoreReconstructAndManage) {
  // Train through a TrainJob (uploading the CSV) and wait for the new version.
  Result train = Strata(
      "train --model thyroid --data data/thyroid.csv --drop_columns label "
      "--config data/configs/thyroid.json --labels stable --wait");
  ASSERT_EQ(train.exit_code, 0) << train.output;
  EXPECT_THAT(train.output, HasSubstr("published thyroid version 1"));

  // The same set from the server's --data_root becomes version 2.
  Result second =
      Strata("train --model thyroid --server_csv thyroid.csv --drop_columns label --wait --quiet");
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_THAT(second.output, HasSubstr("published thyroid version 2"));

  Result models = Strata("models --output csv");
  ASSERT_EQ(models.exit_code, 0) << models.output;
  EXPECT_THAT(models.output, HasSubstr("thyroid,1 2,2,stable=1"));

  Result encode = Strata("encode --model thyroid --drop_columns label < data/thyroid.csv");
  ASSERT_EQ(encode.exit_code, 0) << encode.output.substr(0, 500);
  // Version 2 has the default architecture for 6 features: 3 -> 2 (code).
  EXPECT_TRUE(absl::StrContains(encode.output, "thyroid version 2, layer 2")) << Head(encode);
  EXPECT_TRUE(absl::StrContains(encode.output, "code_0,code_1\n")) << Head(encode);
  // Header, 3,772 rows, and the version line on stderr.
  EXPECT_EQ(std::count(encode.output.begin(), encode.output.end(), '\n'), 3772 + 2);

  Result h1 = Strata(
      "encode --model thyroid --label stable --layer 1 --drop_columns label "
      "< data/thyroid.csv | head -2");
  EXPECT_THAT(h1.output, HasSubstr("h1_15"));

  Result score = Strata(
      "score --model thyroid --label stable --drop_columns label --stream < data/thyroid.csv");
  ASSERT_EQ(score.exit_code, 0) << score.output.substr(0, 500);
  EXPECT_TRUE(absl::StrContains(score.output, "score,is_anomaly,percentile\n")) << Head(score);
  EXPECT_TRUE(absl::StrContains(score.output, "of 3772 rows above the combined threshold"))
      << Head(score);
  Result mse = Strata(
      "score --model thyroid --label stable --drop_columns label --metric mse "
      "< data/thyroid.csv");
  EXPECT_TRUE(absl::StrContains(mse.output, "of 3772 rows above the mean_squared threshold"))
      << Head(mse);
  Result bad_metric = Strata("score --model thyroid --metric rmse < data/thyroid.csv");
  EXPECT_EQ(bad_metric.exit_code, 2);
  EXPECT_THAT(bad_metric.output, HasSubstr("--metric must be combined, mse, mae or code"));

  Result recon = Strata(
      "reconstruct --model thyroid --version 1 --drop_columns label "
      "< data/thyroid.csv | head -1");
  EXPECT_THAT(recon.output, HasSubstr("f0,f1,f2,f3,f4,f5"));

  Result jobs = Strata("jobs --model thyroid");
  EXPECT_EQ(std::count(jobs.output.begin(), jobs.output.end(), '\n'), 3);  // header + 2 jobs
  EXPECT_THAT(jobs.output, HasSubstr("SUCCEEDED"));

  Result label = Strata("label --model thyroid --label canary --version 2");
  ASSERT_EQ(label.exit_code, 0) << label.output;
  EXPECT_THAT(label.output, HasSubstr("canary=2 stable=1"));

  // Errors: one readable line, non-zero exit.
  Result missing = Strata("encode --model nope --drop_columns label < data/thyroid.csv");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.output, HasSubstr("strata encode: model 'nope' is not served"));
  Result columns = Strata("encode --model thyroid < data/thyroid.csv");
  EXPECT_EQ(columns.exit_code, 1);
  EXPECT_THAT(columns.output, HasSubstr("expected 6 columns"));
  Result bad_job = Strata(
      "train --model thyroid --data data/thyroid.csv --wait --quiet "
      "--config /dev/null");
  EXPECT_NE(bad_job.exit_code, 0);
}

// Submits a thyroid TrainJob of 100,000 epochs (from dir/long.json) and
// returns its id once it is RUNNING (bounded wait); empty after a failure.
std::string StartLongJob(const ServerProcess& server, const std::string& dir) {
  std::ofstream(dir + "/long.json") << R"({"finetune_epochs": 100000, "seed": 3})";
  const Result submit = server.Strata(absl::StrCat(
      "train --model thyroid --server_csv thyroid.csv --drop_columns label --quiet --config ",
      dir, "/long.json"));
  const size_t at = submit.output.find("job-");
  if (submit.exit_code != 0 || at == std::string::npos) {
    ADD_FAILURE() << submit.output;
    return "";
  }
  const std::string id = submit.output.substr(at, submit.output.find_first_of(" \n", at) - at);
  for (int i = 0; i < 200; ++i) {
    if (server.Strata("jobs --id " + id).output.find("RUNNING") != std::string::npos) return id;
    absl::SleepFor(absl::Milliseconds(50));
  }
  ADD_FAILURE() << "job " << id << " did not start";
  return "";
}

TEST(CliServerCrashTest, KillDuringATrainJobLeavesNoPartialVersion) {
  const std::string dir = testing::ScratchDir("e2e_kill9");
  std::system(("mkdir -p " + dir + "/data && cp data/thyroid.csv " + dir + "/data/").c_str());
  std::string job_id;
  {
    ServerProcess server(dir);
    ASSERT_GT(server.port(), 0);
    job_id = StartLongJob(server, dir);
    ASSERT_FALSE(job_id.empty());
    server.Kill();  // kill -9 while it trains
  }
  ServerProcess restarted(dir);
  ASSERT_GT(restarted.port(), 0);
  Result job = restarted.Strata("jobs --id " + job_id);
  EXPECT_EQ(job.exit_code, 0) << job.output;
  EXPECT_THAT(job.output, HasSubstr("FAILED"));
  EXPECT_THAT(job.output, HasSubstr("interrupted"));
  // No version became visible, and the store is consistent (nothing served).
  Result models = restarted.Strata("models --output csv");
  EXPECT_EQ(models.exit_code, 0) << models.output;
  EXPECT_THAT(models.output, Not(HasSubstr("thyroid")));
  Result ls = testing::Shell("ls " + dir + "/models/thyroid 2>/dev/null | grep -c '^[0-9]' || true");
  EXPECT_EQ(ls.output, "0\n");
}

TEST(CliServerCrashTest, SigtermCancelsARunningJobCleanlyAndExitsZero) {
  const std::string dir = testing::ScratchDir("e2e_sigterm");
  std::system(("mkdir -p " + dir + "/data && cp data/thyroid.csv " + dir + "/data/").c_str());
  std::string job_id;
  {
    // The destructor sends SIGTERM and expects exit code 0.
    ServerProcess server(dir, "--shutdown_grace=5s");
    ASSERT_GT(server.port(), 0);
    job_id = StartLongJob(server, dir);
    ASSERT_FALSE(job_id.empty());
  }
  // The job was cancelled by the shutdown (not left to read as interrupted),
  // and nothing was published.
  ServerProcess restarted(dir);
  Result job = restarted.Strata("jobs --id " + job_id);
  EXPECT_THAT(job.output, HasSubstr("CANCELLED"));
  EXPECT_THAT(job.output, Not(HasSubstr("interrupted")));
  EXPECT_THAT(restarted.Strata("models --output csv").output, Not(HasSubstr("thyroid")));
}

TEST(CliServerAuthTest, TokenFileUnlocksWritesOverTls) {
  // strata-server with TLS and a token for writes; the CLI with --tls_ca and
  // --token_file, as an operator would run them.
  const std::string dir = testing::ScratchDir("e2e_auth");
  const testing::ShellResult certs = testing::Shell(absl::StrCat(
      "set -e; cd ", dir, "; mkdir -p data; printf 'tok-e2e\n' > token; ",
      "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 "
      "-subj '/CN=e2e CA' >/dev/null 2>&1; printf 'subjectAltName=IP:127.0.0.1\n' > san; ",
      "openssl req -newkey rsa:2048 -nodes -keyout s.key -out s.csr -subj '/CN=s' "
      ">/dev/null 2>&1; openssl x509 -req -in s.csr -CA ca.pem -CAkey ca.key "
      "-CAcreateserial -days 2 -extfile san -out s.pem >/dev/null 2>&1"));
  ASSERT_EQ(certs.exit_code, 0) << certs.output;
  ServerProcess server(dir, absl::StrCat("--tls_cert=", dir, "/s.pem --tls_key=", dir,
                                         "/s.key --auth_token_file=", dir, "/token"));
  ASSERT_GT(server.port(), 0);
  const std::string tls = absl::StrCat("--tls_ca=", dir, "/ca.pem ");
  Result plain = server.Strata("models");
  EXPECT_EQ(plain.exit_code, 1) << plain.output;
  Result models = server.Strata(tls + "models --output csv");
  EXPECT_EQ(models.exit_code, 0) << models.output;
  const std::string train =
      "train --model thyroid --data data/thyroid.csv --drop_columns label --quiet "
      "--config data/configs/thyroid.json";
  Result refused = server.Strata(tls + train);
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_THAT(refused.output, HasSubstr("Bearer"));
  Result accepted = server.Strata(absl::StrCat(tls, "--token_file=", dir, "/token ", train));
  EXPECT_EQ(accepted.exit_code, 0) << accepted.output;
  EXPECT_THAT(accepted.output, HasSubstr("job"));
}

TEST_F(CliServerTest, HealthExitsZeroWhileServingAndOneWhenNot) {
  // As a container HEALTHCHECK or readiness script calls it.
  Result up = Strata("health");
  EXPECT_EQ(up.exit_code, 0) << up.output;
  EXPECT_THAT(up.output, HasSubstr("SERVING"));
  Result inference = Strata("health --service strata.v1.InferenceService --quiet");
  EXPECT_EQ(inference.exit_code, 0) << inference.output;
  EXPECT_EQ(inference.output, "");
  Result unknown = Strata("health --service no.such.Service");
  EXPECT_EQ(unknown.exit_code, 1) << unknown.output;
  EXPECT_THAT(unknown.output, HasSubstr("no.such.Service"));

  const std::string port = absl::StrCat(server_->port());
  server_.reset();  // SIGTERM, exit 0
  Result down = testing::Shell(
      absl::StrCat(STRATA_CLI_PATH, " --server=127.0.0.1:", port, " health --timeout 1"));
  EXPECT_EQ(down.exit_code, 1) << down.output;
  EXPECT_THAT(down.output, HasSubstr("strata health: 127.0.0.1:" + port));
  Result usage = testing::Shell(absl::StrCat(STRATA_CLI_PATH, " health --timeout 0"));
  EXPECT_EQ(usage.exit_code, 2) << usage.output;
}

TEST_F(CliServerTest, UnreachableServerIsOneLineError) {
  Result r = testing::Shell(absl::StrCat(STRATA_CLI_PATH, " --server=127.0.0.1:1 models"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("strata models:"));
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
}

}  // namespace
}  // namespace strata
