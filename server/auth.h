// Bearer-token authorization of RPCs.
//
// With a token, RPCs that change state (SubmitTrainJob, UploadTrainJob,
// CancelTrainJob, SetLabel) need the metadata `authorization: Bearer <token>`;
// with `reads`, every other strata RPC does too. Health checks never do (they
// are for probes). Tokens are compared in constant time.
//
//   absl::StatusOr<Authorizer> auth = Authorizer::FromTokenFile("/etc/strata/token", false);
//   if (absl::Status s = auth->Check(*context, Access::kWrite); !s.ok()) ... UNAUTHENTICATED
//
// Copyable; thread-safe for concurrent const use.
#ifndef STRATA_SERVER_AUTH_H_
#define STRATA_SERVER_AUTH_H_

#include <grpcpp/server_context.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace strata {

enum class Access { kRead, kWrite };

class Authorizer {
 public:
  // Lets every call through.
  Authorizer() = default;
  // The token is the file's content without surrounding whitespace; an
  // unreadable or empty file is an error.
  static absl::StatusOr<Authorizer> FromTokenFile(const std::string& path, bool reads);
  static Authorizer FromToken(std::string token, bool reads);

  bool enabled() const { return !token_.empty(); }
  // OK, or UNAUTHENTICATED saying what is missing (never echoing tokens).
  absl::Status Check(const grpc::ServerContextBase& context, Access access) const;

 private:
  std::string token_;
  bool reads_ = false;
};

// Equality whose running time depends only on `expected`'s length.
bool ConstantTimeEquals(absl::string_view given, absl::string_view expected);

}  // namespace strata

#endif  // STRATA_SERVER_AUTH_H_
