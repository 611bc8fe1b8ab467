// What the CLI says when the server goes away in the middle of a command: a
// connection reset or closed, a server that shuts down or stops answering.
// gRPC words these for its transport ("recvmsg:Connection reset by peer",
// "Cancelling all calls", "Socket closed"); a user needs what happened to
// the server, and how far the command got: which rows were answered and
// written, which job goes on. Every command that calls the server words it
// here.
//
//   absl::StatusOr<v1::EncodeResponse> r = client.Encode(request);
//   if (!r.ok()) {
//     return Fail("encode", ServerGone(r.status(), global.server, RowsWritten(start, rows)));
//   }
#ifndef STRATA_CLIENT_CLI_SERVER_GONE_H_
#define STRATA_CLIENT_CLI_SERVER_GONE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace strata::cli {

// Whether a failed call's `status` says the server went away rather than
// refused the request: UNAVAILABLE, or CANCELLED (the CLI cancels none of
// its calls: the server ended it, as one that shuts down does).
bool IsServerGone(const absl::Status& status);

// For an IsServerGone status: Unavailable "the server at SERVER shut down"
// (or "closed the connection", "stopped answering", "cancelled the call",
// "is unavailable"), then ": PROGRESS" when `progress` is given, then
// gRPC's own words "(gRPC: ...)". Unavailable, not Cancelled, so that the
// command exits 1, not 130 (interrupted). StrataClient's "no strata-server
// answers at ..." with no progress (nothing was done yet) comes back as it
// is, and so does every status that is not IsServerGone.
absl::Status ServerGone(const absl::Status& status, const std::string& server,
                        const std::string& progress);

// How far an inference command got, for ServerGone: "69587 of 100000 rows
// were answered and written; the other 30413 were not".
std::string RowsWritten(int64_t written, int64_t total);

}  // namespace strata::cli

#endif  // STRATA_CLIENT_CLI_SERVER_GONE_H_
