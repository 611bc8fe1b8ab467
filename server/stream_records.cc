#include "server/stream_records.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace strata {
namespace {

// The length of the valid UTF-8 sequence at text[i], or 0.
size_t Utf8Length(absl::string_view text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char c = byte(i);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (n == 0 || i + n > text.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  if (n == 2 && c < 0xC2) return 0;  // overlong
  return n;
}

// `text` as a JSON string literal. Bytes that are not UTF-8 (a binary or
// Latin-1 record, dead-lettered as it came) become \u00XX, one per byte, so
// the message stays JSON that any consumer reads.
std::string JsonString(absl::string_view text) {
  std::string out = "\"";
  for (size_t i = 0; i < text.size();) {
    const char c = text[i];
    const size_t n = Utf8Length(text, i);
    if (n == 0) {
      out += absl::StrFormat("\\u%04x", static_cast<unsigned char>(c));
      ++i;
      continue;
    }
    if (n > 1) {
      out.append(text.data() + i, n);
      i += n;
      continue;
    }
    ++i;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += absl::StrFormat("\\u%04x", static_cast<unsigned char>(c));
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

// A float as JSON: nine significant digits read back to the same float.
std::string JsonFloat(double v) { return absl::StrFormat("%.9g", v); }

absl::Status SetFeature(const FeatureIndex& features, const std::string& name, double value,
                        float* row, std::vector<bool>* seen) {
  const int column = features.Find(name);
  if (column < 0) return absl::OkStatus();  // not a feature: left out
  const size_t i = static_cast<size_t>(column);
  if ((*seen)[i]) return absl::InvalidArgumentError(absl::StrCat("field '", name, "' is repeated"));
  const float f = static_cast<float>(value);
  if (!std::isfinite(f)) {
    return absl::InvalidArgumentError(
        absl::StrCat("field '", name, "' is ", value, ", not a finite 32-bit float"));
  }
  (*seen)[i] = true;
  row[i] = f;
  return absl::OkStatus();
}

absl::Status ParseJson(absl::string_view data, const FeatureIndex& features, float* row,
                       std::vector<bool>* seen, NamedRecord* record) {
  google::protobuf::Struct fields;
  const auto parsed = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(data.data(), data.size()), &fields);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a JSON object of named fields: ", parsed.message().as_string()));
  }
  for (const auto& entry : fields.fields()) {
    const std::string& name = entry.first;
    const google::protobuf::Value& value = entry.second;
    if (name == "id") {
      if (value.kind_case() == google::protobuf::Value::kStringValue) {
        record->id = value.string_value();
      } else if (value.kind_case() == google::protobuf::Value::kNumberValue) {
        // An integer as its digits (StrCat would keep six significant
        // figures: 1234567 and 1234568 would both echo as 1.23457e+06).
        const double v = value.number_value();
        record->id = std::abs(v) < 9007199254740992.0 && v == std::floor(v)
                         ? absl::StrCat(static_cast<int64_t>(v))
                         : absl::StrFormat("%.17g", v);
      }
      // A model feature named id is read as one too.
      if (features.Find(name) < 0) continue;
    }
    if (features.Find(name) < 0) continue;
    if (value.kind_case() != google::protobuf::Value::kNumberValue) {
      return absl::InvalidArgumentError(
          absl::StrCat("field '", name, "' is not a number (a model feature must be)"));
    }
    if (absl::Status s = SetFeature(features, name, value.number_value(), row, seen); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status ParseCsv(absl::string_view data, const FeatureIndex& features, float* row,
                      std::vector<bool>* seen, NamedRecord* record) {
  if (data.find('"') != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        "quoted CSV fields are not read in stream records; send JSON for such values");
  }
  std::vector<absl::string_view> lines = absl::StrSplit(data, '\n', absl::SkipWhitespace());
  if (lines.size() != 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a CSV record is a header line and one line of values; this one has ", lines.size(),
        " lines"));
  }
  std::vector<absl::string_view> names = absl::StrSplit(absl::StripSuffix(lines[0], "\r"), ',');
  std::vector<absl::string_view> values = absl::StrSplit(absl::StripSuffix(lines[1], "\r"), ',');
  if (names.size() != values.size()) {
    return absl::InvalidArgumentError(absl::StrCat("the CSV header names ", names.size(),
                                                   " fields and the values line has ",
                                                   values.size()));
  }
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string name(absl::StripAsciiWhitespace(names[i]));
    const absl::string_view text = absl::StripAsciiWhitespace(values[i]);
    if (name == "id") record->id = std::string(text);  // and a feature, if one is named id
    if (features.Find(name) < 0) continue;
    double value = 0;
    if (!absl::SimpleAtod(text, &value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("field '", name, "' is '", text, "', not a number"));
    }
    if (absl::Status s = SetFeature(features, name, value, row, seen); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

FeatureIndex::FeatureIndex(const std::vector<std::string>& features) : names_(features) {
  columns_.reserve(features.size());
  for (size_t i = 0; i < features.size(); ++i) columns_.emplace(features[i], static_cast<int>(i));
}

int FeatureIndex::Find(absl::string_view name) const {
  auto it = columns_.find(name);
  return it == columns_.end() ? -1 : it->second;
}

absl::StatusOr<NamedRecord> ParseRecord(absl::string_view data, const FeatureIndex& index,
                                        float* row) {
  const std::vector<std::string>& features = index.names();
  NamedRecord record;
  std::vector<bool> seen(features.size(), false);
  const absl::string_view trimmed = absl::StripLeadingAsciiWhitespace(data);
  if (trimmed.empty()) return absl::InvalidArgumentError("the record is empty");
  absl::Status s = trimmed.front() == '{' ? ParseJson(trimmed, index, row, &seen, &record)
                                          : ParseCsv(trimmed, index, row, &seen, &record);
  if (!s.ok()) return s;
  std::vector<std::string> missing;
  for (size_t i = 0; i < features.size(); ++i) {
    if (!seen[i]) missing.push_back(features[i]);
  }
  if (!missing.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        missing.size(), " of the model's ", features.size(), " features are missing: ",
        absl::StrJoin(missing.begin(), missing.begin() + std::min<size_t>(missing.size(), 5),
                      ", "),
        missing.size() > 5 ? ", ..." : ""));
  }
  return record;
}

std::string AnswerJson(const std::string& subject, uint64_t sequence, const NamedRecord& record,
                       const v1::ModelVersion& model, const v1::AnomalyScoreResponse& response,
                       const v1::RowScore& score, const std::vector<std::string>& features,
                       const float* row, int top) {
  std::string out = absl::StrCat(
      "{\"subject\":", JsonString(subject), ",\"sequence\":", sequence,
      record.id.empty() ? "" : absl::StrCat(",\"id\":", JsonString(record.id)),
      ",\"model\":", JsonString(model.name()), ",\"version\":", model.version(),
      ",\"metric\":", JsonString(v1::ScoreOptions::Metric_Name(response.metric())),
      ",\"score\":", JsonFloat(score.score()), ",\"threshold\":", JsonFloat(response.threshold()),
      ",\"is_anomaly\":", score.is_anomaly() ? "true" : "false",
      ",\"percentile\":", JsonFloat(score.percentile()));
  if (score.is_anomaly()) {
    absl::StrAppend(&out, ",\"record\":{");
    for (size_t i = 0; i < features.size(); ++i) {
      absl::StrAppend(&out, i ? "," : "", JsonString(features[i]), ":", JsonFloat(row[i]));
    }
    absl::StrAppend(&out, "},\"top_feature_errors\":[");
    std::vector<int> order(static_cast<size_t>(score.feature_errors_size()));
    std::iota(order.begin(), order.end(), 0);
    const int n = std::min<int>(top, static_cast<int>(order.size()));
    std::partial_sort(order.begin(), order.begin() + n, order.end(), [&](int a, int b) {
      return score.feature_errors(a) > score.feature_errors(b) ||
             (score.feature_errors(a) == score.feature_errors(b) && a < b);
    });
    for (int i = 0; i < n; ++i) {
      const int f = order[static_cast<size_t>(i)];
      absl::StrAppend(&out, i ? "," : "", "{\"feature\":",
                      JsonString(features[static_cast<size_t>(f)]),
                      ",\"error\":", JsonFloat(score.feature_errors(f)), "}");
    }
    absl::StrAppend(&out, "]");
  }
  absl::StrAppend(&out, "}");
  return out;
}

std::string DeadLetterJson(const std::string& subject, uint64_t sequence, absl::string_view reason,
                           absl::string_view data) {
  // A record near the bus's message limit, escaped, would not fit in a
  // message: the dead letter could not be published, its batch would come
  // back for ever, and the stream would stop there.
  const bool cut = data.size() > kMaxDeadLetterData;
  return absl::StrCat("{\"subject\":", JsonString(subject), ",\"sequence\":", sequence,
                      ",\"reason\":", JsonString(reason),
                      ",\"data\":", JsonString(data.substr(0, kMaxDeadLetterData)),
                      cut ? absl::StrCat(",\"truncated\":true,\"bytes\":", data.size()) : "", "}");
}

}  // namespace strata
