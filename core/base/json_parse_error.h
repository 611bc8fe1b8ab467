// DescribeJsonParseError: protobuf's JSON parse errors on one line that
// says where in the text the fault is, for messages a user can act on:
//
//   absl::Status s = google::protobuf::util::JsonStringToMessage(json, &config);
//   if (!s.ok()) return DescribeJsonParseError(json, s.message());
//     -> "line 4, column 4: expected , or } after key:value pair"
//     -> "line 2, column 32: optimizer.beta1: invalid value "x" for type TYPE_FLOAT"
//
// Protobuf 3.21 (Debian 12) words a syntax error in three lines: the
// message, the text up to 20 bytes either side of the fault, and a caret
// under the fault. Its parser always holds a suffix of the text, so a
// context that ends early ends where the text does; otherwise the context
// is looked up in the text. A field it cannot take comes as "(path) name:
// message" or "(path): message", with no position: the position is that of
// the field's quoted key, found after its parents' keys. A message in
// another form comes back on one line, without a position.
#ifndef STRATA_CORE_BASE_JSON_PARSE_ERROR_H_
#define STRATA_CORE_BASE_JSON_PARSE_ERROR_H_

#include <string>

#include "absl/strings/string_view.h"

namespace strata {

// `message` is what google::protobuf::util::JsonStringToMessage said about
// `json`. Lines and columns count from 1, columns in characters.
std::string DescribeJsonParseError(absl::string_view json, absl::string_view message);

}  // namespace strata

#endif  // STRATA_CORE_BASE_JSON_PARSE_ERROR_H_
