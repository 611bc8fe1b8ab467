// Messages printed as JSON, one way for the CLI's --output=json, `inspect`
// and configs written back out: indented, proto field names, and every
// field, zero-valued ones too (0 and false are answers, not "unknown").
//
//   std::cout << ProtoToJson(response) << "\n";
#ifndef STRATA_CORE_PROTO_JSON_H_
#define STRATA_CORE_PROTO_JSON_H_

#include <string>

#include "google/protobuf/message.h"

namespace strata {

std::string ProtoToJson(const google::protobuf::Message& message);

}  // namespace strata

#endif  // STRATA_CORE_PROTO_JSON_H_
