// strata health: whether the server (or one of its services) is serving, as
// an exit code for container health checks and start-up scripts.
#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/cli/cli_flags.h"
#include "client/cli/commands.h"
#include "client/strata_client.h"

namespace strata::cli {

int RunHealth(const GlobalFlags& global, const std::vector<std::string>& args) {
  using grpc::health::v1::HealthCheckResponse;
  std::string service;
  int timeout_s = 5;
  bool wait = false, quiet = false;
  FlagSet flags("health",
                "Asks the server's grpc.health.v1 service whether it is serving.\n"
                "Exit 0 when SERVING, 1 when not serving or unreachable: fit for container\n"
                "health checks and start-up scripts.");
  flags.AddString("service", &service, "NAME",
                  "one service, e.g. strata.v1.InferenceService (default: the whole server)");
  flags.AddInt("timeout", &timeout_s, "seconds to wait for an answer (with --wait, for SERVING)");
  flags.AddBool("wait", &wait, "check again every 200 ms until SERVING or --timeout");
  flags.AddBool("quiet", &quiet, "print nothing; the exit code tells");
  if (int code = flags.ParseOrExit(args); code >= 0) return code;
  if (timeout_s <= 0) {
    std::cerr << "strata health: --timeout must be positive\n";
    return kExitUsage;
  }
  auto client = Connect(global);
  if (!client.ok()) return Fail("health", client.status());
  const absl::Time deadline = absl::Now() + absl::Seconds(timeout_s);
  absl::StatusOr<HealthCheckResponse::ServingStatus> status;
  while (true) {
    status = (*client)->Health(service, std::max(absl::Milliseconds(100), deadline - absl::Now()));
    const bool serving = status.ok() && *status == HealthCheckResponse::SERVING;
    if (serving || !wait || absl::Now() + absl::Milliseconds(200) >= deadline) break;
    absl::SleepFor(absl::Milliseconds(200));
  }
  const std::string what = service.empty() ? global.server : service + " at " + global.server;
  if (!status.ok()) {
    if (quiet) return kExitFailure;
    // Name the server, unless the message does ("no strata-server answers
    // at HOST:PORT").
    const absl::string_view message = status.status().message();
    return Fail("health",
                absl::StrContains(message, global.server)
                    ? status.status()
                    : absl::Status(status.status().code(), absl::StrCat(what, ": ", message)));
  }
  if (!quiet) std::cout << what << ": " << HealthCheckResponse::ServingStatus_Name(*status) << "\n";
  return *status == HealthCheckResponse::SERVING ? kExitOk : kExitFailure;
}

}  // namespace strata::cli
