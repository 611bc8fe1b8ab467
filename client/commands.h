// The `strata` subcommands. Each takes the words after its name and returns
// the process exit code: kExitOk, kExitFailure (the operation failed; the
// reason is on stderr), kExitUsage (bad flags), kExitInterrupted (SIGINT).
#ifndef STRATA_CLIENT_COMMANDS_H_
#define STRATA_CLIENT_COMMANDS_H_

#include <string>
#include <vector>

namespace strata::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitInterrupted = 130;

int RunTrain(const std::vector<std::string>& args);
int RunInspect(const std::vector<std::string>& args);

}  // namespace strata::cli

#endif  // STRATA_CLIENT_COMMANDS_H_
