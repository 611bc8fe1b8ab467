// Cancellation of long work (training, calibration): a flag the caller sets
// from another thread, polled by the work at points where stopping leaves
// nothing half-done.
//
//   std::atomic<bool> cancel{false};
//   ... another thread: cancel = true;
//   if (absl::Status s = CheckCancel(&cancel, "calibration"); !s.ok()) return s;
#ifndef STRATA_CORE_BASE_CANCELLATION_H_
#define STRATA_CORE_BASE_CANCELLATION_H_

#include <atomic>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace strata {

// Cancelled ("<during> cancelled") once *cancel is true; OK for a null flag.
inline absl::Status CheckCancel(const std::atomic<bool>* cancel, absl::string_view during) {
  if (cancel == nullptr || !cancel->load(std::memory_order_relaxed)) return absl::OkStatus();
  return absl::CancelledError(absl::StrCat(during, " cancelled"));
}

}  // namespace strata

#endif  // STRATA_CORE_BASE_CANCELLATION_H_
