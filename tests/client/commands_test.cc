#include "client/commands.h"

#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace strata::cli {
namespace {

using ::testing::HasSubstr;

// Issue 14, item 3: the output has exactly one row per input row, or the
// command fails; an answer short or long by a row is never printed as is.
TEST(CommandsTest, AnAnswerWithAnotherRowCountFailsTheCommand) {
  EXPECT_TRUE(CheckRowsAnswered(4, 4, 0).ok());
  for (const int64_t answered : {3, 5, 0}) {
    const absl::Status s = CheckRowsAnswered(4, answered, 8);
    EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << answered;
    EXPECT_THAT(s.message(), HasSubstr(absl::StrCat("the server answered ", answered,
                                                    " rows for the 4 rows from row 8; no output "
                                                    "can be trusted")));
  }
}

// The --output json of models, jobs and drift, and inspect --config: one
// newline at the end, whatever protobuf's printer ends with (the CLI added
// one after the one protobuf 3.21 ends indented JSON with).
TEST(CommandsTest, JsonEndsInOneNewline) {
  v1::TrainJob job;
  job.set_id("job-1");
  ::testing::internal::CaptureStdout();
  PrintJson(job);
  std::cout << std::flush;
  const std::string out = ::testing::internal::GetCapturedStdout();
  ASSERT_GE(out.size(), 3u);
  EXPECT_THAT(out, HasSubstr("\"id\": \"job-1\""));
  EXPECT_EQ(out.substr(out.size() - 2), "}\n") << out;
}

}  // namespace
}  // namespace strata::cli
