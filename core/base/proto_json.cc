#include "core/base/proto_json.h"

#include "absl/strings/str_cat.h"
#include "core/base/json_parse_error.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace strata {
namespace {

// InvalidArgument naming the first member of `fields` (its path after
// `prefix`) that protobuf would read as left out: null at any depth, or an
// empty list at the top. (A nested [], such as a config's
// supervised.class_names, is what ProtoToJson prints for "none": it means
// what leaving it out means.)
absl::Status RefuseEmptyMembers(const google::protobuf::Struct& fields, const std::string& prefix,
                                absl::string_view what) {
  for (const auto& [name, value] : fields.fields()) {
    const std::string path = prefix + name;
    if (value.has_null_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " field ", path, ": is null; leave the field out for its default"));
    }
    if (prefix.empty() && value.has_list_value() && value.list_value().values_size() == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " field ", path, ": is an empty list; leave the field out for its default"));
    }
    if (value.has_struct_value()) {
      if (absl::Status s = RefuseEmptyMembers(value.struct_value(), path + ".", what); !s.ok()) {
        return s;
      }
    }
    if (value.has_list_value()) {  // objects in a list (a sweep's parameters)
      const google::protobuf::ListValue& list = value.list_value();
      for (int i = 0; i < list.values_size(); ++i) {
        if (!list.values(i).has_struct_value()) continue;
        const std::string element = absl::StrCat(path, "[", i, "].");
        if (absl::Status s = RefuseEmptyMembers(list.values(i).struct_value(), element, what);
            !s.ok()) {
          return s;
        }
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

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
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid ", what, " JSON: ", DescribeJsonParseError(json, status.message().as_string())));
  }
  // protobuf reads a member given as null (or a top-level []) as left out,
  // which would quietly pick its default: refused, as an explicit
  // out-of-range value is. (List elements are the message's business: a
  // sweep's values say why.)
  google::protobuf::Struct members;
  if (google::protobuf::util::JsonStringToMessage(
          google::protobuf::StringPiece(json.data(), json.size()), &members)
          .ok()) {
    return RefuseEmptyMembers(members, "", what);
  }
  return absl::OkStatus();
}

}  // namespace strata
