#include "core/proto_json.h"

#include "absl/strings/str_cat.h"
#include "core/json_parse_error.h"
#include "google/protobuf/util/json_util.h"

namespace strata {

std::string ProtoToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string out;
  // Printing fails only for an Any whose type cannot be resolved; strata's
  // messages hold none.
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

absl::Status JsonToProto(absl::string_view json, absl::string_view what,
                         google::protobuf::Message* message) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  options.case_insensitive_enum_parsing = true;
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), message, options);
  if (status.ok()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "invalid ", what, " JSON: ", DescribeJsonParseError(json, status.message().as_string())));
}

}  // namespace strata
