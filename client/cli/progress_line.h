// ProgressLine: the live progress line of a training on stderr, for `strata
// train` (local, or following a server's job) and `strata sweep`. On a
// terminal, one line redrawn in place; in a log, a line every 5 seconds at
// most; nothing with --quiet.
//
//   ProgressLine progress(quiet, /*last_line=*/absl::Now());
//   options.on_epoch = [&](const TrainProgress& p) { progress.Show(FormatProgress(p)); };
//   ... train ...
//   progress.Clear();
//
// Not thread-safe; one per command.
#ifndef STRATA_CLIENT_CLI_PROGRESS_LINE_H_
#define STRATA_CLIENT_CLI_PROGRESS_LINE_H_

#include <string>

#include "absl/time/time.h"

namespace strata::cli {

class ProgressLine {
 public:
  // `last_line`: when a line was last written to a log, the first one
  // following 5 seconds after it (absl::InfinitePast(): at once).
  ProgressLine(bool quiet, absl::Time last_line);

  // Whether the line is redrawn in place: stderr is a terminal, and not --quiet.
  bool live() const { return live_; }

  // Shows `line` (no newline): in place when live(), else logged when 5
  // seconds have passed since the last.
  void Show(const std::string& line);

  // Erases the live line, so that what follows starts a clean line.
  void Clear();

 private:
  const bool quiet_;
  const bool live_;
  absl::Time last_line_;
};

}  // namespace strata::cli

#endif  // STRATA_CLIENT_CLI_PROGRESS_LINE_H_
