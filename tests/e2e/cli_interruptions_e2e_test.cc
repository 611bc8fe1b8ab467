// What the strata CLI and strata-server say and leave behind when work is
// cut short: the server killed or stopped during a training job, a job
// cancelled (running or already ended), Ctrl-C on train --wait, and the
// server gone in the middle of a score or a wait.
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
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
using ::testing::Not;
using testing::ServerProcess;
using testing::StartLongJob;
using Result = testing::ShellResult;

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
  Result ls =
      testing::Shell("ls " + dir + "/models/thyroid 2>/dev/null | grep -c '^[0-9]' || true");
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

// The id in "submitted job-N (model M)", or empty.
std::string SubmittedJobId(const Result& r) {
  const size_t at = r.output.find("submitted ");
  if (at == std::string::npos) return "";
  return r.output.substr(at + 10, r.output.find(' ', at + 10) - at - 10);
}

// Issue 14: cancelling a job that has already ended says so and fails;
// cancelling a running one works as before.
TEST_F(CliServerTest, CancelOfAnEndedJobSaysSoAndFails) {
  std::ofstream(dir_ + "/quick.json") << R"({"finetune_epochs": 2})";
  const Result train = Strata(
      "train --model m --data data/thyroid.csv --drop_columns label --wait --quiet --config " +
      dir_ + "/quick.json");
  ASSERT_EQ(train.exit_code, 0) << train.output;
  const std::string done = SubmittedJobId(train);
  const Result cancel_done = Strata("jobs --cancel " + done);
  EXPECT_EQ(cancel_done.exit_code, 1) << cancel_done.output;
  EXPECT_EQ(cancel_done.output,
            "strata jobs: " + done + " had already ended (SUCCEEDED): nothing to cancel\n");

  const std::string running = StartLongJob(*server_, dir_);
  ASSERT_FALSE(running.empty());
  const Result cancel = Strata("jobs --cancel " + running);
  EXPECT_EQ(cancel.exit_code, 0) << cancel.output;
  // What it did, in words: the table alone showed the job still RUNNING.
  EXPECT_THAT(cancel.output, HasSubstr("cancelling " + running + " (model thyroid, RUNNING"));
  Result job;
  for (int i = 0; i < 200; ++i) {
    job = Strata("jobs --id " + running);
    if (absl::StrContains(job.output, "CANCELLED")) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_THAT(job.output, HasSubstr("CANCELLED"));
  const Result again = Strata("jobs --cancel " + running);
  EXPECT_EQ(again.exit_code, 1) << again.output;
  EXPECT_THAT(again.output, HasSubstr("had already ended (CANCELLED)"));
}

// Starts the CLI against `server` in the background, stdout to OUT and
// stderr to ERR; returns its pid.
pid_t StrataInBackground(const ServerProcess& server, const std::string& args,
                         const std::string& out, const std::string& err) {
  return testing::Spawn(absl::StrCat("exec ", STRATA_CLI_PATH, " --server=127.0.0.1:",
                                     server.port(), " ", args, " > ", out, " 2> ", err));
}

// The exit code of a child, -1 when a signal ended it.
int ExitCode(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Waits (bounded) until `path` holds `text`; whether it does.
bool WaitForText(const std::string& path, const std::string& text) {
  for (int i = 0; i < 400; ++i) {
    if (absl::StrContains(testing::ReadAll(path), text)) return true;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return false;
}

// Starts `strata train --wait` in the background on a job that would run
// for hours, stdout to OUT and stderr to ERR; sets *pid and *id (the job's)
// once the id is printed, when the CLI's Ctrl-C handler is in place.
void StartLongTrainWait(const ServerProcess& server, const std::string& dir, const std::string& out,
                        const std::string& err, pid_t* pid, std::string* id) {
  std::ofstream(dir + "/long.json") << R"({"finetune_epochs": 100000, "seed": 3})";
  *pid = StrataInBackground(
      server,
      "train --model thyroid --server_csv thyroid.csv --drop_columns label --wait --quiet "
      "--config " +
          dir + "/long.json",
      out, err);
  ASSERT_GT(*pid, 0);
  ASSERT_TRUE(WaitForText(out, "submitted ")) << testing::ReadAll(err);
  ASSERT_TRUE(WaitForText(out, "\n")) << testing::ReadAll(out);
  const std::string submitted = testing::ReadAll(out);
  const size_t at = submitted.find("submitted ") + 10;
  *id = submitted.substr(at, submitted.find(' ', at) - at);
}

// Ctrl-C on `train --wait` (or `sweep`) ended the CLI without a word while
// the job ran on and later published: it says the job goes on, and the
// command that cancels it, which works as printed; exit 130.
TEST_F(CliServerTest, CtrlCOnTrainWaitSaysTheJobGoesOnAndHowToCancelIt) {
  const std::string out = dir_ + "/wait.out", err = dir_ + "/wait.err";
  pid_t pid = 0;
  std::string id;
  ASSERT_NO_FATAL_FAILURE(StartLongTrainWait(*server_, dir_, out, err, &pid, &id));
  kill(pid, SIGINT);
  EXPECT_EQ(ExitCode(pid), 130);
  const std::string said = testing::ReadAll(err);
  EXPECT_THAT(said, HasSubstr("strata train: interrupted; " + id +
                              " keeps going on the server and will publish the next version of "
                              "thyroid if it succeeds. Cancel it with: strata --server=127.0.0.1:"))
      << said;
  EXPECT_THAT(Strata("jobs --id " + id).output, Not(HasSubstr("CANCELLED")));

  // The printed command, as a user would paste it.
  const size_t command_at = said.find("Cancel it with: strata ");
  ASSERT_NE(command_at, std::string::npos) << said;
  const std::string command =
      said.substr(command_at + 23, said.find('\n', command_at) - command_at - 23);
  EXPECT_THAT(command, HasSubstr("jobs --cancel " + id));
  const Result cancel = testing::Shell(absl::StrCat(STRATA_CLI_PATH, " ", command));
  EXPECT_EQ(cancel.exit_code, 0) << cancel.output;
  EXPECT_THAT(cancel.output, HasSubstr(id + " (model thyroid"));
  Result job;
  for (int i = 0; i < 200; ++i) {
    job = Strata("jobs --id " + id);
    if (absl::StrContains(job.output, "CANCELLED")) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_THAT(job.output, HasSubstr("CANCELLED"));
}

// The server killed mid-command: the CLI printed gRPC's "recvmsg:Connection
// reset by peer" (or "Socket closed") and no count of the rows answered.
// Now it says what happened to the server and how many rows were answered
// and written: exactly those on stdout.
TEST_F(CliServerTest, AServerGoneMidScoreSaysHowManyRowsWereAnsweredAndWritten) {
  ASSERT_EQ(TrainThyroid().exit_code, 0);
  // 20 copies of the set in batches of 4: thousands of calls, seconds long.
  const std::string rows = dir_ + "/many.csv";
  std::system(absl::StrCat("for i in $(seq 20); do tail -n +2 data/thyroid.csv | cut -d, -f1-6; "
                           "done > ",
                           rows)
                  .c_str());
  const std::string out = dir_ + "/score.out", err = dir_ + "/score.err";
  const pid_t pid =
      StrataInBackground(*server_, "score --model m --batch_rows 4 < " + rows, out, err);
  ASSERT_GT(pid, 0);
  // Rows answered: stdout to a file is written in 4 KiB blocks, the header
  // with the first.
  ASSERT_TRUE(WaitForText(out, "score,is_anomaly,percentile\n")) << testing::ReadAll(err);
  server_->Kill();
  EXPECT_EQ(ExitCode(pid), 1);
  const std::string said = testing::ReadAll(err);
  EXPECT_THAT(said, HasSubstr("strata score: the server at 127.0.0.1:")) << said;
  EXPECT_THAT(said, HasSubstr(" of 75440 rows were answered and written; the other ")) << said;
  EXPECT_THAT(said, Not(HasSubstr("no output can be trusted"))) << said;
  // The count said is the rows written: the header, then one line a row.
  const size_t colon = said.find(": ", said.find("the server at "));
  ASSERT_NE(colon, std::string::npos) << said;
  const int64_t written = std::atoll(said.c_str() + colon + 2);
  const std::string scores = testing::ReadAll(out);
  EXPECT_GT(written, 0) << said;
  EXPECT_EQ(std::count(scores.begin(), scores.end(), '\n'), 1 + written) << said;
}

// The server killed while `train --wait` follows a job: gRPC's "Socket
// closed" became where the job stood and how to ask about it.
TEST_F(CliServerTest, AServerGoneMidWaitSaysWhereTheJobStood) {
  const std::string out = dir_ + "/wait.out", err = dir_ + "/wait.err";
  pid_t pid = 0;
  std::string id;
  ASSERT_NO_FATAL_FAILURE(StartLongTrainWait(*server_, dir_, out, err, &pid, &id));
  for (int i = 0; i < 200; ++i) {
    if (absl::StrContains(Strata("jobs --id " + id).output, "RUNNING")) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  server_->Kill();
  EXPECT_EQ(ExitCode(pid), 1);
  const std::string said = testing::ReadAll(err);
  EXPECT_THAT(said, HasSubstr("strata train: the server at 127.0.0.1:")) << said;
  EXPECT_THAT(said, HasSubstr(": " + id + " was ")) << said;
  EXPECT_THAT(said, HasSubstr(" when last heard of; ask with 'strata --server=127.0.0.1:")) << said;
  EXPECT_THAT(said, HasSubstr(" jobs --id " + id + "' once the server answers")) << said;
}

}  // namespace
}  // namespace strata
