#include "client/cli/server_gone.h"

#include <cstddef>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "client/strata_client.h"

namespace strata::cli {
namespace {

// gRPC's words, and the OS's that it passes on, lower-cased: gRPC 1.51 ends
// the calls of a server that shuts down past its grace with "Cancelling all
// calls" (UNAVAILABLE), a reset connection is "recvmsg:Connection reset by
// peer", a closed one "Socket closed".
constexpr absl::string_view kShutDown[] = {"cancelling all calls", "server shutdown", "goaway",
                                           "shutting down"};
constexpr absl::string_view kClosed[] = {"connection reset",  "socket closed", "broken pipe",
                                         "connection closed", "end of file",   "eof"};
// No connection could be made at all (nothing listens, DNS, TLS handshake).
constexpr absl::string_view kNotConnected[] = {"failed to connect", "backends failing",
                                               "dns resolution", "handshake"};

template <size_t N>
bool ContainsAny(absl::string_view lower, const absl::string_view (&words)[N]) {
  for (absl::string_view word : words) {
    if (absl::StrContains(lower, word)) return true;
  }
  return false;
}

}  // namespace

bool IsServerGone(const absl::Status& status) {
  return absl::IsUnavailable(status) || absl::IsCancelled(status);
}

absl::Status ServerGone(const absl::Status& status, const std::string& server,
                        const std::string& progress) {
  if (!IsServerGone(status)) return status;
  const std::string lower = absl::AsciiStrToLower(status.message());
  const bool unreachable = StrataClient::IsUnreachable(status);
  const bool not_connected = unreachable || ContainsAny(lower, kNotConnected);
  // Before anything was done, a server that cannot be reached has the
  // client's words (and a TLS or DNS failure gRPC's): nothing went away.
  if (not_connected && progress.empty()) return status;
  std::string what;
  if (absl::IsCancelled(status)) {
    what = "cancelled the call (is it shutting down?)";
  } else if (not_connected) {
    what = "stopped answering";
  } else if (ContainsAny(lower, kShutDown)) {
    what = "shut down";
  } else if (ContainsAny(lower, kClosed)) {
    what = "closed the connection";
  } else {
    what = "is unavailable";
  }
  return absl::UnavailableError(
      absl::StrCat("the server at ", server, " ", what, progress.empty() ? "" : ": ", progress,
                   // The client's own words add nothing to "stopped answering".
                   unreachable ? "" : absl::StrCat(" (gRPC: ", status.message(), ")")));
}

std::string RowsWritten(int64_t written, int64_t total) {
  if (written <= 0) return absl::StrCat("none of the ", total, " rows was answered or written");
  if (written >= total) return absl::StrCat("all ", total, " rows were answered and written");
  return absl::StrCat(written, " of ", total, " rows were answered and written; the other ",
                      total - written, " were not");
}

}  // namespace strata::cli
