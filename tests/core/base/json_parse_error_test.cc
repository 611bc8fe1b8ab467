// Protobuf's own JSON parse errors, put on one line with where they are.
#include "core/base/json_parse_error.h"

#include <string>

#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "strata/v1/train_config.pb.h"

namespace strata {
namespace {

// What a TrainConfig parse of `json` says, described.
std::string Describe(const std::string& json) {
  v1::TrainConfig config;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &config);
  EXPECT_FALSE(status.ok()) << json;
  return DescribeJsonParseError(json, status.message().as_string());
}

TEST(JsonParseErrorTest, SyntaxErrorsSayTheirLineAndColumn) {
  // A missing comma, found at the next key's quote.
  EXPECT_EQ(Describe("{\n  \"seed\": 3,\n  \"dropout\": 0.1\n  \"finetune_epochs\": 5\n}\n"),
            "line 4, column 3: expected , or } after key:value pair");
  // Near the start: the context begins with the text.
  EXPECT_EQ(Describe("{\"seed\" 1}"), "line 1, column 9: expected : between key:value pair");
  // Near the end: the context ends with the text.
  EXPECT_EQ(Describe("{\"seed\": 1} x"),
            "line 1, column 13: parsing terminated before end of input");
  EXPECT_EQ(Describe("{\n  \"seed\": 3,\n  \"dropout\": "),
            "line 3, column 14: unexpected end of string. Expected a value");
  EXPECT_EQ(Describe(""), "line 1, column 1: unexpected end of string. Expected a value");
  // Far from both ends, after a line of non-ASCII text (columns count
  // characters).
  EXPECT_EQ(
      Describe("{\"hidden_activations\": [\"relu\"],\n \"x\": \"ééééééééééééé\", \"seed\": 3 4, "
               "\"dropout\": 0.1, \"batch_size\": 32}"),
      "line 2, column 34: expected , or } after key:value pair");
}

TEST(JsonParseErrorTest, FieldErrorsSayWhereTheFieldIs) {
  EXPECT_EQ(Describe("{\n  \"seed\": 3,\n    \"epochs\": 5\n}"),
            "line 3, column 5: epochs: cannot find field");
  EXPECT_EQ(Describe("{\"seed\": 3,\n \"optimizer\": {\"kind\": \"adam\", \"lr\": 1}}"),
            "line 2, column 32: optimizer.lr: cannot find field");
  EXPECT_EQ(Describe("{\"encoder_widths\": [8, \"x\"]}"),
            "line 1, column 2: encoder_widths[1]: invalid value \"x\" for type TYPE_INT32");
  // The key after its parent's, not an earlier one of the same name.
  EXPECT_EQ(
      Describe("{\"noise\": {\"kind\": \"gaussian\"},\n \"optimizer\": {\"kind\": \"adamw\"}}"),
      "line 2, column 16: optimizer.kind: invalid value \"adamw\" for type "
      "type.googleapis.com/strata.v1.OptimizerConfig.Kind");
}

TEST(JsonParseErrorTest, OtherMessagesComeBackOnOneLine) {
  EXPECT_EQ(Describe("[1]"), "root element must be a message");
  EXPECT_EQ(DescribeJsonParseError("{}", "Something\nelse"), "something");
  EXPECT_EQ(DescribeJsonParseError("{}", "no colon here."), "no colon here");
  // A field not in the text (written in camelCase, say) has no position.
  EXPECT_EQ(DescribeJsonParseError("{\"batchSize\": \"x\"}",
                                   "(batch_size): invalid value \"x\" for type TYPE_INT32"),
            "batch_size: invalid value \"x\" for type TYPE_INT32");
}

}  // namespace
}  // namespace strata
