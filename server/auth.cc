#include "server/auth.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/base/file_util.h"

namespace strata {

bool ConstantTimeEquals(absl::string_view given, absl::string_view expected) {
  unsigned char diff = given.size() == expected.size() ? 0 : 1;
  for (size_t i = 0; i < expected.size(); ++i) {
    const char g = i < given.size() ? given[i] : 0;
    diff |= static_cast<unsigned char>(g ^ expected[i]);
  }
  return diff == 0;
}

absl::StatusOr<Authorizer> Authorizer::FromTokenFile(const std::string& path, bool reads) {
  absl::StatusOr<std::string> content = ReadFileToString(path);
  if (!content.ok()) {
    return absl::Status(content.status().code(),
                        absl::StrCat("auth token file: ", content.status().message()));
  }
  std::string token(absl::StripAsciiWhitespace(*content));
  if (token.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("auth token file ", path, " is empty"));
  }
  return FromToken(std::move(token), reads);
}

Authorizer Authorizer::FromToken(std::string token, bool reads) {
  Authorizer a;
  a.token_ = std::move(token);
  a.reads_ = reads;
  return a;
}

absl::Status Authorizer::Check(const grpc::ServerContextBase& context, Access access) const {
  if (token_.empty() || (access == Access::kRead && !reads_)) return absl::OkStatus();
  const auto& metadata = context.client_metadata();
  const auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return absl::UnauthenticatedError(
        "this call needs 'authorization: Bearer <token>' metadata (the server has "
        "--auth_token_file)");
  }
  const absl::string_view value(it->second.data(), it->second.size());
  constexpr absl::string_view kBearer = "Bearer ";
  if (!absl::StartsWith(value, kBearer) ||
      !ConstantTimeEquals(value.substr(kBearer.size()), token_)) {
    return absl::UnauthenticatedError("the bearer token is not valid");
  }
  return absl::OkStatus();
}

}  // namespace strata
