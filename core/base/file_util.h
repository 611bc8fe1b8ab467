// Whole-file reads and crash-safe writes.
//
// WriteFileAtomically writes to a temporary file in the same directory,
// fsyncs it, renames it over `path` and fsyncs the directory: readers see the
// old file or the complete new one, never a torn write, even after a crash.
#ifndef STRATA_CORE_BASE_FILE_UTIL_H_
#define STRATA_CORE_BASE_FILE_UTIL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace strata {

// InvalidArgument, before reading, for a file of more than `max_bytes`
// (and if one grows past it while being read).
absl::StatusOr<std::string> ReadFileToString(const std::string& path,
                                             int64_t max_bytes = INT64_MAX);
absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents);

// The names in directory `path` that do not start with '.', sorted; empty
// when it does not exist.
absl::StatusOr<std::vector<std::string>> ListDir(const std::string& path);
// mkdir -p: creates `path` and missing parents; OK if it is a directory.
absl::Status CreateDirectories(const std::string& path);
// The directory part of `path`: "." without a slash, "/" for a file at the
// root ("a/b/c" -> "a/b", "c" -> ".", "/c" -> "/").
std::string DirName(const std::string& path);
// fsync a directory, so that renames and creations in it are durable.
void SyncDirectory(const std::string& path);
// "<what> <path>: <strerror(err)>" with the matching code (NotFound,
// PermissionDenied, ResourceExhausted for a full disk, else Internal).
absl::Status ErrnoToStatus(absl::string_view what, const std::string& path, int err);

}  // namespace strata

#endif  // STRATA_CORE_BASE_FILE_UTIL_H_
