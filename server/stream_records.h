// Records from a message bus, as strata-stream (server/stream_main.cc) reads
// them, and the answers it publishes. Transport-free: the NATS source
// (server/nats_source.h) only moves these bytes.
//
// A record is one message holding named fields, in either form:
//   JSON: {"f0": 0.12, "f1": 3, "id": "a-17"}
//   CSV:  a header line, then one line of values: "f0,f1,id\n0.12,3,a-17"
// Its features are taken by name, in the model's order; other fields are
// left out of the row, and a field named "id" is echoed in the answer (and
// read as a feature too when the model has one of that name).
//
//   const FeatureIndex index(model.info().feature_names);  // once per model
//   absl::StatusOr<NamedRecord> r = ParseRecord(bytes, index, row);
//
// Functions only; thread-compatible.
#ifndef STRATA_SERVER_STREAM_RECORDS_H_
#define STRATA_SERVER_STREAM_RECORDS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "strata/v1/service.pb.h"

namespace strata {

struct NamedRecord {
  std::string id;  // the "id" field, if any (a string or a number's text)
};

// A model's feature names and where each goes in a row: a record's fields
// are looked up by hash, not by a scan of the names (a 784-pixel record
// would otherwise cost 784 x 784 string comparisons).
class FeatureIndex {
 public:
  explicit FeatureIndex(const std::vector<std::string>& features);
  const std::vector<std::string>& names() const { return names_; }
  // The column of `name`, or -1 for a field that is not a feature.
  int Find(absl::string_view name) const;

 private:
  std::vector<std::string> names_;
  absl::flat_hash_map<std::string, int> columns_;
};

// Reads `data` and writes its features, in the index's order, to `row`
// (names().size() floats). InvalidArgument naming the field when the record
// is neither form, a feature is missing, repeated or not a finite number.
absl::StatusOr<NamedRecord> ParseRecord(absl::string_view data, const FeatureIndex& features,
                                        float* row);

// The JSON answer for one scored record: where it came from, the version
// that scored it, and AnomalyScore's answer for its row (`score`, with
// per-feature errors when it is an anomaly). For an anomaly, the record's
// features and its `top` largest feature errors (name and error) too.
std::string AnswerJson(const std::string& subject, uint64_t sequence, const NamedRecord& record,
                       const v1::ModelVersion& model, const v1::AnomalyScoreResponse& response,
                       const v1::RowScore& score, const std::vector<std::string>& features,
                       const float* row, int top);

// The JSON of a record that could not be scored: where it came from, why,
// and its bytes as they came (a JSON string; bytes that are not UTF-8 as
// \u00XX each). Past kMaxDeadLetterData bytes the data is cut, and
// "truncated" and "bytes" (its full size) say so: escaped, a record near the
// bus's message limit would not fit in one message.
inline constexpr size_t kMaxDeadLetterData = 64 * 1024;
std::string DeadLetterJson(const std::string& subject, uint64_t sequence, absl::string_view reason,
                           absl::string_view data);

}  // namespace strata

#endif  // STRATA_SERVER_STREAM_RECORDS_H_
