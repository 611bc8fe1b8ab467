// The server's batch flags were renamed so that neither reads like the other
// (issue 34): --max_request_rows (was --max_batch_rows), --dynamic_batch_rows
// (was --batch_max_rows) and --dynamic_batch_delay_us (was
// --batch_max_delay_us). Deployments written with the old spellings keep
// working: the old flag sets the same limit, and the log says what to write.
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/server_process.h"
#include "tests/testing/shell.h"
#include "tests/testing/test_models.h"

namespace strata {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::ServerProcess;
using testing::ShellResult;

// Starts a server with `flags`, trains thyroid on it, and scores 40 and then
// 60 rows. Returns the 60-row call's result; `log` gets the server's log.
ShellResult ScoreUnderALimitOf50(const std::string& name, const std::string& flags,
                                 std::string* log) {
  const std::string dir = testing::ScratchDir(name);
  std::system(("mkdir -p " + dir + "/data && head -41 data/thyroid.csv > " + dir +
               "/rows40.csv && head -61 data/thyroid.csv > " + dir + "/rows60.csv")
                  .c_str());
  ServerProcess server(dir, flags);
  EXPECT_GT(server.port(), 0);
  const ShellResult train = server.Strata(
      "train --model m --data data/thyroid.csv --drop_columns label "
      "--config data/configs/thyroid.json --wait --quiet");
  EXPECT_EQ(train.exit_code, 0) << train.output;
  const ShellResult forty =
      server.Strata(absl::StrCat("score --model m --drop_columns label < ", dir, "/rows40.csv"));
  EXPECT_EQ(forty.exit_code, 0) << forty.output;
  ShellResult sixty =
      server.Strata(absl::StrCat("score --model m --drop_columns label < ", dir, "/rows60.csv"));
  *log = testing::ReadAll(dir + "/server.log");
  return sixty;
}

TEST(RenamedFlagsTest, TheNewSpellingsSetTheLimitsWithoutAWarning) {
  std::string log;
  const ShellResult sixty = ScoreUnderALimitOf50(
      "e2e_new_flags", "--max_request_rows=50 --dynamic_batch_rows=8 --dynamic_batch_delay_us=100",
      &log);
  EXPECT_NE(sixty.exit_code, 0);
  EXPECT_THAT(sixty.output, HasSubstr("60 rows exceed the limit of 50 per request"));
  EXPECT_THAT(log, Not(HasSubstr("deprecated")));
}

TEST(RenamedFlagsTest, TheOldSpellingsStillSetTheLimitsAndTheLogNamesTheNewOnes) {
  std::string log;
  const ShellResult sixty = ScoreUnderALimitOf50(
      "e2e_old_flags", "--max_batch_rows=50 --batch_max_rows=8 --batch_max_delay_us=100", &log);
  EXPECT_NE(sixty.exit_code, 0);
  EXPECT_THAT(sixty.output, HasSubstr("60 rows exceed the limit of 50 per request"));
  EXPECT_THAT(log, HasSubstr("--max_batch_rows is deprecated and will be removed; use "
                             "--max_request_rows"));
  EXPECT_THAT(log, HasSubstr("--batch_max_rows is deprecated and will be removed; use "
                             "--dynamic_batch_rows"));
  EXPECT_THAT(log, HasSubstr("--batch_max_delay_us is deprecated and will be removed; use "
                             "--dynamic_batch_delay_us"));
}

// An old spelling is "given" when it is on the command line (or in a flag
// file), whatever its value: -1 once meant "not given" and was ignored, so
// --max_batch_rows=-1 served with the default limit. Now the value reaches
// the server's check, and the server refuses to start, as it does for
// --max_request_rows=-1.
TEST(RenamedFlagsTest, AnOldSpellingGivenMinusOneIsRefusedNotIgnored) {
  const std::string dir = testing::ScratchDir("e2e_old_flag_minus_one");
  for (const char* flag : {"--max_request_rows=-1", "--max_batch_rows=-1"}) {
    const ShellResult started = testing::Shell(absl::StrCat(
        "timeout 30 ", STRATA_SERVER_PATH,
        " --host=127.0.0.1 --port=0 --metrics_port=-1 --model_root=", dir,
        "/models ", flag, " 2>&1"));
    EXPECT_NE(started.exit_code, 0) << flag << ": " << started.output;
    EXPECT_THAT(started.output, HasSubstr("max_request_rows must be >= 1")) << flag;
  }
}

}  // namespace
}  // namespace strata
