#include "client/commands.h"

#include <iostream>

namespace strata::cli {

int Fail(const std::string& command, const absl::Status& status) {
  std::cerr << "strata " << command << ": " << status.message() << "\n";
  return absl::IsCancelled(status) ? kExitInterrupted : kExitFailure;
}

absl::StatusOr<std::unique_ptr<StrataClient>> Connect(const GlobalFlags& global) {
  StrataClient::Options options;
  options.target = global.server;
  return StrataClient::Create(options);
}

}  // namespace strata::cli
