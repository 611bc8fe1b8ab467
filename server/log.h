// Minimal structured logging to stderr: "2026-11-23T02:50:01Z I registry: ...".
// Abseil's logging library is newer than Debian 12's Abseil, hence this.
#ifndef STRATA_SERVER_LOG_H_
#define STRATA_SERVER_LOG_H_

#include "absl/strings/string_view.h"

namespace strata {

enum class LogLevel { kInfo, kWarning, kError };

// Thread-safe: each call writes one whole line.
void Log(LogLevel level, absl::string_view component, absl::string_view message);

}  // namespace strata

#endif  // STRATA_SERVER_LOG_H_
