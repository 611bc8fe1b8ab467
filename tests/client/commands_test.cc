#include "client/commands.h"

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

}  // namespace
}  // namespace strata::cli
