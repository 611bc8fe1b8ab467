#include "server/version_policy.h"

#include <algorithm>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace strata {

absl::StatusOr<VersionPolicy> VersionPolicy::Parse(absl::string_view text) {
  VersionPolicy p;
  const std::pair<absl::string_view, absl::string_view> kv =
      absl::StrSplit(text, absl::MaxSplits(':', 1));
  auto bad = [&] {
    return absl::InvalidArgumentError(absl::StrCat("version policy '", text,
                                                   "': expected latest, latest:N, all or "
                                                   "specific:V1,V2,..."));
  };
  if (kv.first == "all" && kv.second.empty()) {
    p.kind = Kind::kAll;
  } else if (kv.first == "latest") {
    p.kind = Kind::kLatest;
    if (!kv.second.empty() && (!absl::SimpleAtoi(kv.second, &p.latest_n) || p.latest_n < 1)) {
      return bad();
    }
  } else if (kv.first == "specific") {
    p.kind = Kind::kSpecific;
    for (absl::string_view v : absl::StrSplit(kv.second, ',')) {
      int64_t version;
      if (!absl::SimpleAtoi(v, &version) || version < 1) return bad();
      p.specific.push_back(version);
    }
  } else {
    return bad();
  }
  return p;
}

std::string VersionPolicy::ToString() const {
  switch (kind) {
    case Kind::kAll:
      return "all";
    case Kind::kSpecific:
      return absl::StrCat("specific:", absl::StrJoin(specific, ","));
    default:
      return absl::StrCat("latest:", latest_n);
  }
}

std::vector<int64_t> AspiredVersions(const VersionPolicy& policy,
                                     const std::vector<int64_t>& available,
                                     const std::vector<int64_t>& labelled) {
  const std::set<int64_t> avail(available.begin(), available.end());
  std::set<int64_t> out;
  switch (policy.kind) {
    case VersionPolicy::Kind::kAll:
      out = avail;
      break;
    case VersionPolicy::Kind::kSpecific:
      for (int64_t v : policy.specific) {
        if (avail.count(v)) out.insert(v);
      }
      break;
    case VersionPolicy::Kind::kLatest: {
      int taken = 0;
      for (auto it = avail.rbegin(); it != avail.rend() && taken < policy.latest_n; ++it, ++taken) {
        out.insert(*it);
      }
      break;
    }
  }
  for (int64_t v : labelled) {
    if (avail.count(v)) out.insert(v);
  }
  return {out.begin(), out.end()};
}

std::vector<int64_t> VersionsToServe(const std::vector<int64_t>& aspired,
                                     const std::vector<int64_t>& loaded,
                                     const std::vector<int64_t>& served_now,
                                     const std::vector<int64_t>& in_store) {
  const std::set<int64_t> have(loaded.begin(), loaded.end());
  std::vector<int64_t> out;
  for (int64_t v : aspired) {
    if (have.count(v)) out.push_back(v);
  }
  if (out.empty()) {
    const std::set<int64_t> stored(in_store.begin(), in_store.end());
    for (int64_t v : served_now) {
      if (stored.count(v)) out.push_back(v);
    }
    std::sort(out.begin(), out.end());
  }
  return out;
}

}  // namespace strata
