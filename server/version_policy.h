// Which versions of a model to serve: a pure function over a snapshot of the
// store, tested on its own (as TF Serving's AspiredVersionPolicy).
//
//   absl::StatusOr<VersionPolicy> p = VersionPolicy::Parse("latest:2");
//   std::vector<int64_t> aspired = AspiredVersions(p, on_disk_and_loadable, labelled);
//   ... load the aspired versions that are not loaded yet; while one fails,
//   ask again without it (it is not loadable) ...
//   std::vector<int64_t> serve = VersionsToServe(aspired, loaded, served_now, in_store);
#ifndef STRATA_SERVER_VERSION_POLICY_H_
#define STRATA_SERVER_VERSION_POLICY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace strata {

struct VersionPolicy {
  enum class Kind { kLatest, kAll, kSpecific };
  Kind kind = Kind::kLatest;
  int latest_n = 1;               // kLatest: how many of the newest versions.
  std::vector<int64_t> specific;  // kSpecific: exactly these versions.

  // "latest", "latest:N", "all" or "specific:V1,V2,...".
  static absl::StatusOr<VersionPolicy> Parse(absl::string_view text);
  std::string ToString() const;
};

// The versions the policy wants served, ascending: chosen from `available`
// (complete on disk and not known to be broken), plus every available
// version a label points at (labels pin their versions). A broken version
// left in `available` counts: under latest it displaces the one before it.
std::vector<int64_t> AspiredVersions(const VersionPolicy& policy,
                                     const std::vector<int64_t>& available,
                                     const std::vector<int64_t>& labelled);

// After loading: the aspired versions that loaded. If none did, the versions
// served now that are still in the store (`in_store`) stay served, so a model
// never loses its only servable version to a bad new one. A version deleted
// from the store is never kept: serving a model nobody can inspect or roll
// back to, with nothing said, is worse than answering NOT_FOUND.
std::vector<int64_t> VersionsToServe(const std::vector<int64_t>& aspired,
                                     const std::vector<int64_t>& loaded,
                                     const std::vector<int64_t>& served_now,
                                     const std::vector<int64_t>& in_store);

}  // namespace strata

#endif  // STRATA_SERVER_VERSION_POLICY_H_
