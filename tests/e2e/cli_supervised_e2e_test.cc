// Supervised training through the strata CLI against the real server: a
// CSV label column trains a classifier that strata predict answers with,
// and strata sweep runs trials over it and publishes the best.
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/cli_server_fixture.h"
#include "tests/testing/shell.h"
#include "tests/testing/synthetic_data.h"

namespace strata {
namespace {

using testing::CliServerTest;
using ::testing::HasSubstr;
using testing::Head;
using testing::Tail;
using Result = testing::ShellResult;

// A CSV with a label column trains a classifier through a TrainJob;
// strata predict answers a class per row, unary or streamed, and a model
// without a head, or a label outside the declared classes, is a clear error.
const char* const kBlobNames[] = {"low", "mid", "high"};

// 300 rows of three blobs with a class column "kind" between features c and
// d (every fifth row unlabelled), and a config for them in classes.json.
std::string WriteLabelledBlobs(const std::string& dir) {
  const testing::Blobs blobs = testing::GaussianBlobs(300, 6, 3, 29, 0.5);
  const std::string csv = dir + "/blobs.csv";
  std::ofstream out(csv);
  out << "a,b,c,kind,d,e,f\n";
  for (int r = 0; r < 300; ++r) {
    for (int c = 0; c < 6; ++c) {
      out << blobs.rows(r, c) << (c == 2 ? absl::StrCat(",", r % 5 ? kBlobNames[r % 3] : "") : "")
          << (c < 5 ? "," : "\n");
    }
  }
  std::ofstream(dir + "/classes.json")
      << R"({"encoder_widths": [4, 3], "finetune_epochs": 30, "optimizer": {"learning_rate": )"
      << R"(0.01}, "supervised": {"epochs": 30}, "anomaly": {"ensemble_size": 1}})";
  return csv;
}

// strata sweep submits a sweep, follows its trials and prints the table;
// --job prints it again; a bad sweep file names itself and where it fails.
TEST_F(CliServerTest, SweepPrintsTheTableAndPublishesTheBestTrial) {
  const std::string csv = WriteLabelledBlobs(dir_);
  std::ofstream(dir_ + "/sweep.json")
      << R"({"parameters": [{"field": "encoder_widths", "values": ["[4,1]", "[4,3]"]}]})";
  const std::string flags = "--model blobs --data " + csv + " --label_column kind --config " +
                            dir_ + "/classes.json --quiet --sweep ";
  Result sweep = Strata("sweep " + flags + dir_ + "/sweep.json");
  ASSERT_EQ(sweep.exit_code, 0) << sweep.output;
  EXPECT_THAT(sweep.output, HasSubstr("a sweep of 2 trials, objective HEAD_ACCURACY"));
  EXPECT_THAT(sweep.output, HasSubstr("objective HEAD_ACCURACY (highest wins)"));
  EXPECT_THAT(sweep.output, HasSubstr("SUCCEEDED  "));
  EXPECT_THAT(sweep.output, HasSubstr("encoder_widths=[4,1]"));
  EXPECT_THAT(sweep.output, HasSubstr("encoder_widths=[4,3]"));
  EXPECT_THAT(sweep.output,
              ::testing::ContainsRegex("SUCCEEDED: published blobs version 1, "
                                       "trial [12] \\(encoder_widths=\\[4,[13]\\]\\)"));
  const size_t at = sweep.output.find("submitted ");
  ASSERT_NE(at, std::string::npos);
  const std::string id = sweep.output.substr(at + 10, sweep.output.find(' ', at + 10) - at - 10);
  Result again = Strata("sweep --job " + id);
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_THAT(again.output, HasSubstr("encoder_widths=[4,3]"));
  EXPECT_THAT(again.output, ::testing::ContainsRegex("\n[12] \\* +SUCCEEDED"));

  std::ofstream(dir_ + "/bad.json") << R"({"parameters": [{"field": "encoder_widths",)";
  Result bad = Strata("sweep " + flags + dir_ + "/bad.json");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.output, HasSubstr("bad.json: invalid sweep JSON: line 1"));
  std::ofstream(dir_ + "/unknown.json")
      << R"({"parameters": [{"field": "widths", "values": ["[4,1]"]}]})";
  Result unknown = Strata("sweep " + flags + dir_ + "/unknown.json");
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(unknown.output, HasSubstr("spec.sweep.parameters[0] (widths): not a TrainConfig"));
  EXPECT_EQ(Strata("sweep --model blobs --data " + csv).exit_code, 2);
}

TEST_F(CliServerTest, TrainWithALabelColumnThenPredict) {
  const char* const* names = kBlobNames;
  const std::string csv = WriteLabelledBlobs(dir_);
  Result train = Strata("train --model blobs --data " + csv + " --label_column kind --config " +
                        dir_ + "/classes.json --wait --quiet");
  ASSERT_EQ(train.exit_code, 0) << train.output;
  EXPECT_THAT(train.output, HasSubstr("published blobs version 1"));

  for (const char* mode : {"", " --stream"}) {
    Result predict =
        Strata(absl::StrCat("predict --model blobs --drop_columns kind", mode, " < ", csv));
    ASSERT_EQ(predict.exit_code, 0) << Head(predict);
    // The output holds stdout and stderr: the rows are the lines that start
    // with a class.
    std::vector<std::string> rows;
    for (absl::string_view line : absl::StrSplit(predict.output, '\n')) {
      for (const char* name : kBlobNames) {
        if (absl::StartsWith(line, absl::StrCat(name, ","))) rows.emplace_back(line);
      }
    }
    ASSERT_EQ(rows.size(), 300u) << Tail(predict);
    EXPECT_THAT(predict.output, HasSubstr("class,p_high,p_low,p_mid\n"));
    int right = 0;
    for (int r = 0; r < 300; ++r)
      right += absl::StartsWith(rows[r], absl::StrCat(names[r % 3], ","));
    EXPECT_GE(right, 285) << mode;
    EXPECT_THAT(predict.output, HasSubstr("blobs version 1: 300 rows; high ")) << mode;
  }

  ASSERT_EQ(Strata("train --model plain --data " + csv + " --drop_columns kind --config " + dir_ +
                   "/classes.json --wait --quiet")
                .exit_code,
            0);
  Result headless = Strata("predict --model plain --drop_columns kind < " + csv);
  EXPECT_EQ(headless.exit_code, 1);
  EXPECT_THAT(headless.output, HasSubstr("no classifier head"));

  // Declared classes without "mid": the upload is refused before it starts,
  // naming the file's line 3 (row 1, a "mid").
  std::ofstream(dir_ + "/declared.json") << R"({"supervised": {"class_names": ["low", "high"]}})";
  Result bad = Strata("train --model blobs --data " + csv + " --label_column kind --config " +
                      dir_ + "/declared.json --wait --quiet");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.output, HasSubstr("label column: line 3: class 'mid' is not one of "
                                    "supervised.class_names (low, high)"));
}

}  // namespace
}  // namespace strata
