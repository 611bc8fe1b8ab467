// The real binaries as a user runs them: strata-server on a free loopback
// port, driven by the strata CLI. The commands' tour (train, encode, score,
// reconstruct, models, jobs, label), TLS with a write token, version numbers
// and labels in the store, health, JSON output, name limits and the demo.
#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/cli_server_fixture.h"
#include "tests/testing/server_process.h"
#include "tests/testing/shell.h"
#include "tests/testing/test_models.h"

namespace strata {
namespace {

using testing::CliServerTest;
using ::testing::HasSubstr;
using testing::Head;
using ::testing::Not;
using testing::ServerProcess;
using testing::Tail;
using Result = testing::ShellResult;

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
  EXPECT_TRUE(absl::StrContains(score.output, "of 3772 rows above the ensemble threshold"))
      << Head(score);
  Result mse = Strata(
      "score --model thyroid --label stable --drop_columns label --metric mse "
      "< data/thyroid.csv");
  EXPECT_TRUE(absl::StrContains(mse.output, "of 3772 rows above the mean_squared threshold"))
      << Head(mse);
  Result bad_metric = Strata("score --model thyroid --metric rmse < data/thyroid.csv");
  EXPECT_EQ(bad_metric.exit_code, 2);
  EXPECT_THAT(bad_metric.output,
              HasSubstr("--metric must be ensemble, combined, mse, mae or code"));

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
  // One column too many: named, with the flag that leaves it out.
  Result columns = Strata("encode --model thyroid < data/thyroid.csv");
  EXPECT_EQ(columns.exit_code, 1);
  EXPECT_THAT(columns.output, HasSubstr("not features of the model: label (leave it out with "
                                        "--drop_columns label)"));
  Result bad_job = Strata(
      "train --model thyroid --data data/thyroid.csv --wait --quiet "
      "--config /dev/null");
  EXPECT_NE(bad_job.exit_code, 0);
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

// Issue 14, item 1: a version number deleted by hand is never handed out
// again, and a label on it is removed, never moved to a new model.
TEST_F(CliServerTest, VersionNumbersAreNeverReusedAndLabelsNeverMove) {
  const std::string train =
      "train --model m --data data/thyroid.csv --drop_columns label "
      "--config data/configs/thyroid.json --wait --quiet";
  ASSERT_EQ(Strata(train).exit_code, 0);
  Result second = Strata(train + " --labels prod");
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_THAT(second.output, HasSubstr("published m version 2"));
  std::system(("rm -rf " + dir_ + "/models/m/2").c_str());
  // One poll (100 ms in tests) later, version 2 and its label are gone.
  Result models;
  for (int i = 0; i < 100; ++i) {
    models = Strata("models --output csv");
    if (!absl::StrContains(models.output, "prod")) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_THAT(models.output, Not(HasSubstr("prod"))) << models.output;
  const std::string log = testing::ReadAll(dir_ + "/server.log");
  EXPECT_THAT(log, HasSubstr("removed label 'prod' of m: its version 2 is gone from the store"));
  EXPECT_THAT(log, HasSubstr("unloaded m version 2: deleted from the store"));
  // The removal is counted where an operator's alerts can see it.
  const Result scraped = testing::Shell(
      absl::StrCat("curl -s --max-time 5 http://127.0.0.1:", server_->metrics_port(), "/metrics"));
  EXPECT_THAT(scraped.output, HasSubstr("strata_labels_removed_total{model=\"m\"} 1"));
  Result third = Strata(train);
  ASSERT_EQ(third.exit_code, 0) << third.output;
  EXPECT_THAT(third.output, HasSubstr("published m version 3"));
  Result prod = Strata("encode --model m --label prod --drop_columns label < data/thyroid.csv");
  EXPECT_EQ(prod.exit_code, 1);
  EXPECT_THAT(prod.output, HasSubstr("no label 'prod'"));
  // Rollback: under --version_policy latest (the default) version 1 is no
  // longer served, yet a label can point at it, and it serves again.
  Result listed = Strata("models --output csv");
  EXPECT_THAT(listed.output, HasSubstr("m,3,3,")) << listed.output;
  // Asked for by number, the unserved version says how to serve it.
  Result unserved = Strata("report --model m --version 1 --out " + dir_ + "/report.html");
  EXPECT_EQ(unserved.exit_code, 1);
  EXPECT_THAT(unserved.output, HasSubstr("version 1 is not served (served: 3). strata report needs "
                                         "a served version. If the store holds version 1, "
                                         "'strata label --model m --label NAME --version 1'"));
  Result rollback = Strata("label --model m --label stable --version 1");
  ASSERT_EQ(rollback.exit_code, 0) << rollback.output;
  Result stable = Strata("encode --model m --label stable --drop_columns label < data/thyroid.csv");
  EXPECT_EQ(stable.exit_code, 0) << Tail(stable);
  EXPECT_THAT(stable.output, HasSubstr("m version 1"));
}

// Issue 14, item 7: at the margin (60 rows, a p99 threshold above 0.6 of
// them), the model trains and `train --wait` says the calibration is weak.
TEST_F(CliServerTest, TrainWaitSaysWhenTheCalibrationIsWeak) {
  std::system(("head -61 data/thyroid.csv > " + dir_ + "/small.csv").c_str());
  const Result weak =
      Strata("train --model w --data " + dir_ + "/small.csv --drop_columns label --wait --quiet");
  ASSERT_EQ(weak.exit_code, 0) << weak.output;
  EXPECT_THAT(weak.output, HasSubstr("warning: weak calibration: the p99 threshold rests on"));
  std::system(("head -40 data/thyroid.csv > " + dir_ + "/tiny.csv").c_str());
  const Result tiny =
      Strata("train --model w --data " + dir_ + "/tiny.csv --drop_columns label --wait --quiet");
  EXPECT_EQ(tiny.exit_code, 1);
  EXPECT_THAT(tiny.output, HasSubstr("has 39 rows; at least 50"));
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
  EXPECT_THAT(down.output,
              HasSubstr("strata health: no strata-server answers at 127.0.0.1:" + port));
  Result usage = testing::Shell(absl::StrCat(STRATA_CLI_PATH, " health --timeout 0"));
  EXPECT_EQ(usage.exit_code, 2) << usage.output;
}

TEST_F(CliServerTest, UnreachableServerIsOneLineError) {
  Result r = testing::Shell(absl::StrCat(STRATA_CLI_PATH, " --server=127.0.0.1:1 models"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("strata models:"));
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
}

// Issue 14: JSON output keeps fields whose value is zero, empty or false.
TEST_F(CliServerTest, JsonOutputKeepsZeroValuedFields) {
  const Result empty = Strata("models --output json");
  ASSERT_EQ(empty.exit_code, 0) << empty.output;
  EXPECT_THAT(empty.output, HasSubstr("\"models\": []"));
  std::ofstream(dir_ + "/quick.json") << R"({"finetune_epochs": 2})";
  const Result train = Strata(
      "train --model m --data data/thyroid.csv --drop_columns label --wait --quiet --config " +
      dir_ + "/quick.json");
  ASSERT_EQ(train.exit_code, 0) << train.output;
  const Result models = Strata("models --output json");
  EXPECT_THAT(models.output, HasSubstr("\"labels\": {}"));
  const Result jobs = Strata("jobs --output json");
  EXPECT_THAT(jobs.output, HasSubstr("\"error\": \"\""));
  EXPECT_THAT(jobs.output, HasSubstr("\"epoch\": "));
}

// Issue 14: a model name over the limit is refused as a bad argument by
// the server, for every command that names a model; no answer outgrows
// gRPC's 8 KiB metadata limit.
TEST_F(CliServerTest, OverlongNamesAreBadArgumentsNotMetadataOverflows) {
  const std::string name(10000, 'a');
  for (const std::string& sub :
       {"encode --model " + name, "reconstruct --model " + name, "score --model " + name,
        "score --stream --model " + name, "drift --model " + name,
        "report --out /dev/null --model " + name,
        "eval --data data/thyroid.csv --label_column label --model " + name,
        "label --label l --version 1 --model " + name,
        "train --data data/thyroid.csv --model " + name}) {
    const Result r = Strata(sub + " < data/thyroid.csv");
    EXPECT_EQ(r.exit_code, 1) << sub.substr(0, 20) << ": " << Head(r);
    EXPECT_THAT(r.output, HasSubstr("model name must have 1 to 128 characters"))
        << sub.substr(0, 20) << ": " << Head(r);
  }
  const Result label = Strata("score --model m --label " + name + " < data/thyroid.csv");
  EXPECT_THAT(label.output, HasSubstr("label must have 1 to 128 characters")) << Head(label);
  // A long job id is not found, and says so in a clipped message.
  const Result job = Strata("jobs --id " + name);
  EXPECT_EQ(job.exit_code, 1) << Head(job);
  EXPECT_THAT(job.output, HasSubstr("no train job 'aaaa")) << Head(job);
  EXPECT_LT(job.output.size(), 2000u) << Head(job);
}

// deploy/demo.sh as it runs: the server's row files go under the store
// (--row_cache_dir), not into the data directory, and the store does not
// take that directory for a model. Of the two rows its first anomaly example
// scores (README's quick start too), the typical one is well below the
// threshold and the one with f0 far outside its training range is flagged.
TEST(DemoTest, RowFilesStayOutOfTheDataAndTheFarRowIsFlagged) {
  const std::string dir = testing::ScratchDir("e2e_demo");
  std::system(("mkdir -p " + dir + "/data && cp data/thyroid.csv " + dir + "/data/").c_str());
  ServerProcess server(dir, "--row_cache_dir=" + dir + "/models/.row-cache");
  ASSERT_GT(server.port(), 0);
  const Result train = server.Strata(
      "train --model thyroid --server_csv thyroid.csv --drop_columns label "
      "--config data/configs/thyroid.json --labels stable --wait --quiet");
  ASSERT_EQ(train.exit_code, 0) << train.output;
  EXPECT_THAT(testing::Shell("ls -a " + dir + "/data").output, Not(HasSubstr(".strata-rows-")));
  EXPECT_THAT(testing::Shell("ls -a " + dir + "/models/.row-cache").output,
              HasSubstr(".strata-rows-"));
  const Result models = server.Strata("models --output csv");
  EXPECT_THAT(models.output, HasSubstr("\nthyroid,1,1,stable=1\n")) << models.output;
  EXPECT_THAT(models.output, Not(HasSubstr("row-cache"))) << models.output;

  // Line 3603 of thyroid.csv (near every feature's median), then f0 at 10;
  // the largest f0 in training is 1.
  const std::string rows = dir + "/rows.csv";
  std::ofstream(rows) << "f0,f1,f2,f3,f4,f5\n"
                         "0.5806,0.0018,0.1907,0.2453,0.3756,0.1721\n"
                         "10,0.0018,0.1907,0.2453,0.3756,0.1721\n";
  const Result score = server.Strata("score --model thyroid < " + rows);
  ASSERT_EQ(score.exit_code, 0) << score.output;
  // score,is_anomaly,percentile per row (the summary on stderr may come
  // first in the output).
  std::vector<std::vector<std::string>> answers;
  for (absl::string_view line : absl::StrSplit(score.output, '\n')) {
    std::vector<std::string> cells = absl::StrSplit(line, ',');
    if (cells.size() == 3 && cells[0] != "score") answers.push_back(std::move(cells));
  }
  ASSERT_EQ(answers.size(), 2u) << score.output;
  double typical = 100, far = 0;
  ASSERT_TRUE(absl::SimpleAtod(answers[0][2], &typical)) << score.output;
  ASSERT_TRUE(absl::SimpleAtod(answers[1][2], &far)) << score.output;
  EXPECT_EQ(answers[0][1], "0") << score.output;
  EXPECT_LT(typical, 90) << score.output;
  EXPECT_EQ(answers[1][1], "1") << score.output;
  EXPECT_GT(far, 99) << score.output;
  EXPECT_THAT(score.output,
              HasSubstr("thyroid version 1: 1 of 2 rows above the ensemble threshold"));
}

}  // namespace
}  // namespace strata
