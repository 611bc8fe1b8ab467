#include "server/train_job_records.h"

#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "core/base/file_util.h"
#include "server/log.h"

namespace strata {

bool IsTerminalState(v1::TrainJob::State s) {
  return s == v1::TrainJob::SUCCEEDED || s == v1::TrainJob::FAILED || s == v1::TrainJob::CANCELLED;
}

void MarkInterrupted(int64_t now_micros, v1::TrainJob* record) {
  record->set_error(absl::StrCat("interrupted: the server stopped while the job was ",
                                 v1::TrainJob::State_Name(record->state()),
                                 "; nothing was published (submit it again)"));
  record->set_state(v1::TrainJob::FAILED);
  record->set_finished_unix_micros(now_micros);
  for (v1::SweepTrial& trial : *record->mutable_sweep()->mutable_trials()) {
    if (trial.state() == v1::SweepTrial::QUEUED || trial.state() == v1::SweepTrial::RUNNING) {
      trial.set_state(v1::SweepTrial::CANCELLED);
      trial.set_error("interrupted: the server stopped");
    }
  }
}

std::string TrainJobRecords::PathOf(const std::string& id) const {
  return absl::StrCat(dir_, "/", id, ".pb");
}

void TrainJobRecords::Write(const v1::TrainJob& record) const {
  if (!enabled()) return;
  if (absl::Status s = WriteFileAtomically(PathOf(record.id()), record.SerializeAsString());
      !s.ok()) {
    Log(LogLevel::kWarning, "jobs",
        absl::StrCat("cannot save the record of ", record.id(), ": ", s.message()));
  }
}

void TrainJobRecords::Remove(const std::string& id) const {
  if (!enabled()) return;
  unlink(PathOf(id).c_str());
}

absl::StatusOr<std::vector<v1::TrainJob>> TrainJobRecords::LoadAll() const {
  std::vector<v1::TrainJob> records;
  if (!enabled()) return records;
  if (absl::Status s = CreateDirectories(dir_); !s.ok()) return s;
  absl::StatusOr<std::vector<std::string>> names = ListDir(dir_);
  if (!names.ok()) return names.status();
  for (const std::string& name : *names) {
    if (!absl::EndsWith(name, ".pb")) continue;
    const std::string path = absl::StrCat(dir_, "/", name);
    absl::StatusOr<std::string> bytes = ReadFileToString(path);
    v1::TrainJob record;
    if (!bytes.ok() || !record.ParseFromString(*bytes) || record.id().empty()) {
      Log(LogLevel::kWarning, "jobs", absl::StrCat("skipping unreadable job record ", path));
      continue;
    }
    if (!IsTerminalState(record.state())) {
      MarkInterrupted(absl::ToUnixMicros(absl::Now()), &record);
      Write(record);
      Log(LogLevel::kWarning, "jobs", absl::StrCat(record.id(), " FAILED: ", record.error()));
    }
    records.push_back(std::move(record));
  }
  std::sort(records.begin(), records.end(), [](const v1::TrainJob& a, const v1::TrainJob& b) {
    return a.created_unix_micros() < b.created_unix_micros();
  });
  return records;
}

int64_t NextJobNumber(const std::vector<v1::TrainJob>& records, int64_t at_least) {
  int64_t next = at_least;
  for (const v1::TrainJob& record : records) {
    // Ids are job-<n>-<hex>: new ones continue after the highest n.
    int64_t n = 0;
    const std::vector<std::string> parts = absl::StrSplit(record.id(), '-');
    if (parts.size() == 3 && absl::SimpleAtoi(parts[1], &n)) next = std::max(next, n + 1);
  }
  return next;
}

}  // namespace strata
