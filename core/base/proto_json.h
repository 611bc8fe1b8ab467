// Messages printed as JSON, one way for the CLI's --output=json, `inspect`
// and configs written back out: indented, proto field names, and every
// field, zero-valued ones too (0 and false are answers, not "unknown").
// And JSON a user wrote, read one way (configs, sweep specs).
//
//   std::cout << ProtoToJson(response) << "\n";
//   absl::Status s = JsonToProto(text, "training config", &config);
#ifndef STRATA_CORE_BASE_PROTO_JSON_H_
#define STRATA_CORE_BASE_PROTO_JSON_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"

namespace strata {

std::string ProtoToJson(const google::protobuf::Message& message);

// Parses `json` into `message`: unknown fields refused, enum names in any
// case. InvalidArgument "invalid <what> JSON: ..." with the line and column
// of a syntax error on one line (json_parse_error.h), and "<what> field
// a.b: is null; ..." for a member given as null at any depth, or "... is an
// empty list; ..." for a top-level [] (protobuf would read either as left
// out, i.e. the default).
absl::Status JsonToProto(absl::string_view json, absl::string_view what,
                         google::protobuf::Message* message);

}  // namespace strata

#endif  // STRATA_CORE_BASE_PROTO_JSON_H_
