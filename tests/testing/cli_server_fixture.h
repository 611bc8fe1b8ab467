// CliServerTest: the e2e fixture that runs the real strata-server (one per
// test, in its own scratch directory holding the demo's thyroid data) and
// drives it with the strata CLI, as a user would; with the helpers the CLI
// e2e tests share. For tests built by strata_e2e_test (tests/e2e), which
// defines STRATA_CLI_PATH and STRATA_SERVER_PATH.
//
//   TEST_F(CliServerTest, Something) {
//     ASSERT_EQ(TrainThyroid().exit_code, 0);
//     const ShellResult r = Strata("score --model m < data/thyroid.csv");
//     EXPECT_EQ(r.exit_code, 0) << Head(r);
//   }
#ifndef STRATA_TESTS_TESTING_CLI_SERVER_FIXTURE_H_
#define STRATA_TESTS_TESTING_CLI_SERVER_FIXTURE_H_

#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/testing/server_process.h"
#include "tests/testing/shell.h"
#include "tests/testing/test_models.h"

namespace strata::testing {

// The start of a long output, for failure messages.
inline std::string Head(const ShellResult& r) { return r.output.substr(0, 300); }
// The end of a long output, for failure messages.
inline std::string Tail(const ShellResult& r) {
  return r.output.substr(r.output.size() > 300 ? r.output.size() - 300 : 0);
}

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

  ShellResult Strata(const std::string& args) { return server_->Strata(args); }
  // Trains model `m` on the demo's thyroid rows (label left out) and waits.
  ShellResult TrainThyroid() {
    return Strata(
        "train --model m --data data/thyroid.csv --drop_columns label "
        "--config data/configs/thyroid.json --wait --quiet");
  }

  std::string dir_;
  std::unique_ptr<ServerProcess> server_;
};

// Submits a thyroid TrainJob of 100,000 epochs (from dir/long.json) and
// returns its id once it is RUNNING (bounded wait); empty after a failure.
inline std::string StartLongJob(const ServerProcess& server, const std::string& dir) {
  std::ofstream(dir + "/long.json") << R"({"finetune_epochs": 100000, "seed": 3})";
  const ShellResult submit = server.Strata(absl::StrCat(
      "train --model thyroid --server_csv thyroid.csv --drop_columns label --quiet --config ", dir,
      "/long.json"));
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

}  // namespace strata::testing

#endif  // STRATA_TESTS_TESTING_CLI_SERVER_FIXTURE_H_
