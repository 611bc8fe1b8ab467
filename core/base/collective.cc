#include "core/base/collective.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace strata {

absl::Status AgreeOnStatus(Collective* c, const absl::Status& local) {
  if (c == nullptr || c->size() == 1) return local;
  // Each rank's code and message, so that every rank can name the first
  // failure.
  const std::vector<std::string> all =
      c->AllGather(local.ok() ? std::string()
                              : absl::StrCat(static_cast<int>(local.code()), " ", local.message()));
  if (!local.ok()) return local;
  for (size_t r = 0; r < all.size(); ++r) {
    if (all[r].empty()) continue;
    const size_t space = all[r].find(' ');
    int code = static_cast<int>(absl::StatusCode::kAborted);
    (void)absl::SimpleAtoi(all[r].substr(0, space), &code);
    return absl::Status(static_cast<absl::StatusCode>(code),
                        absl::StrCat("rank ", r, " failed: ", all[r].substr(space + 1)));
  }
  return absl::OkStatus();
}

}  // namespace strata
