// What the CLI tells a user about a server's training job it stops
// following (Ctrl-C, or the server going away) or asks to cancel: where the
// job stands, and the exact command to follow or cancel it, with the global
// flags that reach the same server.
//
//   std::cerr << InterruptedWaitMessage(global, "train", job);
//   // strata train: interrupted; job-3-5f1a keeps going on the server and ...
//   //   Cancel it with: strata --server=db:50051 jobs --cancel job-3-5f1a
#ifndef STRATA_CLIENT_CLI_JOB_MESSAGES_H_
#define STRATA_CLIENT_CLI_JOB_MESSAGES_H_

#include <string>

#include "client/cli/commands.h"
#include "strata/v1/service.pb.h"

namespace strata::cli {

// The command line that runs `args` (e.g. "jobs --cancel job-3-5f1a")
// against the server `global` names: "strata --server=db:50051 jobs --cancel
// job-3-5f1a", with the token and TLS flags that were given; --server is
// left out when it is the default. Flag values a shell would split or
// expand are single-quoted.
std::string StrataCommandLine(const GlobalFlags& global, const std::string& args);

// The line (newline included) that `strata COMMAND` (train --wait, or
// sweep) prints when Ctrl-C stops it following `job`: the job goes on on
// the server and will publish; how to follow a sweep again, and the exact
// command that cancels it.
std::string InterruptedWaitMessage(const GlobalFlags& global, const std::string& command,
                                   const v1::TrainJob& job);

// Where a followed job stood when the server went away, for ServerGone's
// progress: "job-3-5f1a was RUNNING at epoch 40 of 90 when last heard of;
// ask with 'strata jobs --id job-3-5f1a' once the server answers".
std::string LastSeenJob(const GlobalFlags& global, const v1::TrainJob& job);

// What `strata jobs --cancel` did, from the job CancelTrainJob answered: a
// queued job is "cancelled" at once; a running one is "cancelling" (it
// stops at its next check) and publishes nothing either way.
std::string CancelRequested(const v1::TrainJob& job);

}  // namespace strata::cli

#endif  // STRATA_CLIENT_CLI_JOB_MESSAGES_H_
