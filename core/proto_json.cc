#include "core/proto_json.h"

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

}  // namespace strata
