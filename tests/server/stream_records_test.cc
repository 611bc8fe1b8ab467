// strata-stream's records and answers (server/stream_records.h): fields
// taken by name in either form, every refusal naming the field, and answers
// that read back to the same floats.
#include "server/stream_records.h"

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace strata {
namespace {

using ::testing::HasSubstr;

const std::vector<std::string> kFeatures = {"a", "b", "c"};
const FeatureIndex kIndex(kFeatures);

TEST(StreamRecordsTest, FieldsAreTakenByNameInBothForms) {
  float row[3] = {0, 0, 0};
  // JSON: any order, extra fields left out, the id kept.
  auto r = ParseRecord(R"({"c": 3.5, "x": "skip", "a": -1, "id": "k-9", "b": 2e-3})", kIndex,
                       row);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->id, "k-9");
  EXPECT_EQ(row[0], -1.0f);
  EXPECT_EQ(row[1], 2e-3f);
  EXPECT_EQ(row[2], 3.5f);
  // CSV: header then values, columns by name, CRLF and spaces allowed.
  float csv[3] = {0, 0, 0};
  r = ParseRecord("id, b,c,a\r\n7, 0.25,1,-4\r\n", kIndex, csv);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->id, "7");
  EXPECT_EQ(csv[0], -4.0f);
  EXPECT_EQ(csv[1], 0.25f);
  EXPECT_EQ(csv[2], 1.0f);
  // A numeric id is kept as its digits, every one of them.
  r = ParseRecord(R"({"id": 1234567, "a": 1, "b": 2, "c": 3})", kIndex, row);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->id, "1234567");
  r = ParseRecord(R"({"id": 0.1, "a": 1, "b": 2, "c": 3})", kIndex, row);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->id, "0.10000000000000001");
  // A model feature named id: echoed and read.
  const FeatureIndex with_id({"id", "b"});
  float two[2] = {0, 0};
  r = ParseRecord(R"({"b": 2, "id": 7})", with_id, two);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->id, "7");
  EXPECT_EQ(two[0], 7.0f);
  r = ParseRecord("b,id\n2,8", with_id, two);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->id, "8");
  EXPECT_EQ(two[0], 8.0f);
}

TEST(StreamRecordsTest, RefusalsNameTheField) {
  float row[3];
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "the record is empty"},
      {"  {\"a\": 1,", "not a JSON object of named fields"},
      {R"({"a": 1, "b": 2})", "1 of the model's 3 features are missing: c"},
      {R"({"a": 1, "a": 2, "b": 2, "c": 3})", "Repeated map key: 'a'"},
      {R"({"a": "1", "b": 2, "c": 3})", "field 'a' is not a number"},
      {R"({"a": 1, "b": 2, "c": 1e40})", "field 'c' is 1e+40, not a finite 32-bit float"},
      {"a,b,c\n1,2", "the CSV header names 3 fields and the values line has 2"},
      {"a,b,c\n1,2,zz", "field 'c' is 'zz', not a number"},
      {"a,b,c\n1,2,nan", "field 'c' is nan, not a finite 32-bit float"},
      {"a,a,b,c\n1,2,3,4", "field 'a' is repeated"},
      {"a,b,c\n1,2,3\n4,5,6", "one line of values; this one has 3 lines"},
      {"a,b,c\n\"1\",2,3", "quoted CSV fields are not read"},
  };
  for (const auto& [data, why] : cases) {
    auto r = ParseRecord(data, kIndex, row);
    ASSERT_FALSE(r.ok()) << data;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << data;
    EXPECT_THAT(r.status().message(), HasSubstr(why)) << data;
  }
}

// Nine significant digits read back to the same float, so an answer's score
// is AnomalyScore's float, bit for bit; anomalies carry the record and the
// largest feature errors first; strings are escaped.
TEST(StreamRecordsTest, AnswersReadBackToTheSameFloats) {
  v1::ModelVersion model;
  model.set_name("m\"q");
  model.set_version(3);
  v1::AnomalyScoreResponse response;
  response.set_metric(v1::ScoreOptions::ENSEMBLE);
  response.set_threshold(0.1f);
  v1::RowScore* score = response.add_scores();
  score->set_score(0.123456789f * 3.0f);
  score->set_is_anomaly(true);
  score->set_percentile(0.99f);
  for (float e : {0.5f, 2.0f, 1.0f}) score->add_feature_errors(e);
  const float row[3] = {1.0f / 3.0f, -2.5f, 7e-8f};
  NamedRecord record;
  record.id = "line\n2";
  const std::string json =
      AnswerJson("records.a", 42, record, model, response, *score, kFeatures, row, 2);
  EXPECT_THAT(json, HasSubstr("\"subject\":\"records.a\",\"sequence\":42,\"id\":\"line\\n2\""));
  EXPECT_THAT(json, HasSubstr("\"model\":\"m\\\"q\",\"version\":3,\"metric\":\"ENSEMBLE\""));
  EXPECT_THAT(json, HasSubstr("\"is_anomaly\":true"));
  EXPECT_THAT(json, HasSubstr("\"top_feature_errors\":[{\"feature\":\"b\",\"error\":2},"
                              "{\"feature\":\"c\",\"error\":1}]"));
  const size_t at = json.find("\"score\":") + 8;
  EXPECT_EQ(std::strtof(json.c_str() + at, nullptr), score->score()) << json;
  const size_t a = json.find("\"a\":") + 4;
  EXPECT_EQ(std::strtof(json.c_str() + a, nullptr), row[0]) << json;
  // Not an anomaly: no record, no errors.
  score->set_is_anomaly(false);
  const std::string plain =
      AnswerJson("records.a", 43, {}, model, response, *score, kFeatures, row, 2);
  EXPECT_THAT(plain, ::testing::Not(HasSubstr("\"record\":")));
  EXPECT_THAT(plain, ::testing::Not(HasSubstr("\"id\"")));
  EXPECT_THAT(DeadLetterJson("records.b", 5, "why \"so\"", "a,b\n1"),
              "{\"subject\":\"records.b\",\"sequence\":5,\"reason\":\"why \\\"so\\\"\","
              "\"data\":\"a,b\\n1\"}");
}

// A dead letter is JSON whatever the record held: bytes that are not UTF-8
// escaped one by one, UTF-8 kept, and a record past kMaxDeadLetterData cut
// with its size, so that the letter always fits in a bus message.
TEST(StreamRecordsTest, DeadLettersStayJsonAndFitInAMessage) {
  EXPECT_EQ(DeadLetterJson("s", 1, "r", std::string("\xff\xfe\xc3\xa9\x01", 5)),
            "{\"subject\":\"s\",\"sequence\":1,\"reason\":\"r\","
            "\"data\":\"\\u00ff\\u00fe\xc3\xa9\\u0001\"}");
  const std::string big(kMaxDeadLetterData + 10, '"');
  const std::string letter = DeadLetterJson("s", 2, "r", big);
  EXPECT_THAT(letter, HasSubstr(absl::StrCat(",\"truncated\":true,\"bytes\":", big.size(), "}")));
  EXPECT_LT(letter.size(), 2 * kMaxDeadLetterData + 200);
}

}  // namespace
}  // namespace strata
