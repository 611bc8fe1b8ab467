#include "client/cli/progress_line.h"

#include <unistd.h>

#include <iostream>

#include "absl/time/clock.h"

namespace strata::cli {

ProgressLine::ProgressLine(bool quiet, absl::Time last_line)
    : quiet_(quiet), live_(!quiet && isatty(STDERR_FILENO)), last_line_(last_line) {}

void ProgressLine::Show(const std::string& line) {
  if (live_) {
    std::cerr << "\r\033[K" << line << std::flush;
  } else if (!quiet_ && absl::Now() - last_line_ >= absl::Seconds(5)) {
    std::cerr << line << "\n";
    last_line_ = absl::Now();
  }
}

void ProgressLine::Clear() {
  if (live_) std::cerr << "\r\033[K" << std::flush;
}

}  // namespace strata::cli
