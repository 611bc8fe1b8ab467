#include "server/grpc_status.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace strata {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  std::string message(status.message());
  if (message.size() > kMaxStatusMessageBytes) {
    size_t keep = kMaxStatusMessageBytes;
    // Never cut a UTF-8 sequence: back up over its continuation bytes.
    while (keep > 0 && (static_cast<unsigned char>(message[keep]) & 0xC0) == 0x80) --keep;
    message = absl::StrCat(message.substr(0, keep), "... (", message.size() - keep, " more bytes)");
  }
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), message);
}

}  // namespace strata
