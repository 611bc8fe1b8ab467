#include "client/cli/commands.h"

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

// A version that is stored but not served: the server's NOT_FOUND gains
// what to do (pin it with a label), and nothing else is touched.
TEST(CommandsTest, AnUnservedVersionSaysHowToServeIt) {
  v1::ModelSpec spec;
  spec.set_name("m");
  spec.set_version(3);
  const absl::Status unserved =
      absl::NotFoundError("model 'm' version 3 is not served (served: 2, 4)");
  const absl::Status report = ExplainUnservedVersion(unserved, spec, "report");
  EXPECT_EQ(report.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(report.message(), HasSubstr("model 'm' version 3 is not served (served: 2, 4). "
                                          "strata report needs a served version. If the store "
                                          "holds version 3, 'strata label --model m --label NAME "
                                          "--version 3' makes the server load it"));
  EXPECT_THAT(ExplainUnservedVersion(unserved, spec).message(),
              HasSubstr("Only a served version answers"));
  // Other failures, and a version asked by label or left to the server,
  // come back as they were.
  const absl::Status no_model = absl::NotFoundError("model 'm' is not served");
  EXPECT_EQ(ExplainUnservedVersion(no_model, spec, "report"), no_model);
  const absl::Status refused = absl::InvalidArgumentError("version 3 is not served");
  EXPECT_EQ(ExplainUnservedVersion(refused, spec, "report"), refused);
  v1::ModelSpec labelled;
  labelled.set_name("m");
  labelled.set_label("stable");
  EXPECT_EQ(ExplainUnservedVersion(unserved, labelled, "report"), unserved);
}

// Rows are the true class, columns the predicted one, under the class names;
// an undefined precision (a class never predicted) prints as "-".
TEST(CommandsTest, AClassifiersFiguresPrintUnderTheClassNames) {
  const ClassifierMetrics m = EvaluateClassifier({0, 0, 1, 1}, {0, 0, 0, 0}, 2);
  ::testing::internal::CaptureStdout();
  PrintClassifierMetrics({"cat", "dog"}, m);
  const std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_THAT(out, HasSubstr("true \\ predicted  cat  dog\n"
                             "cat               2    0\n"
                             "dog               2    0\n"));
  EXPECT_THAT(out, HasSubstr("class  precision  recall  rows\n"
                             "cat    0.5000     1.0000  2\n"
                             "dog    -          0.0000  2\n"));
}

}  // namespace
}  // namespace strata::cli
