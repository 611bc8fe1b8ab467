// TrainJobRecords: the records of train jobs on disk, one "<id>.pb" (a
// serialised v1::TrainJob) per job in a directory, so that jobs outlive the
// process: a restarted server serves them again, and a job that was queued
// or running when the previous process stopped reads as FAILED
// (interrupted).
//
//   TrainJobRecords records(options.records_dir);
//   absl::StatusOr<std::vector<v1::TrainJob>> earlier = records.LoadAll();
//   records.Write(job);   // on every change worth keeping
//   records.Remove(id);   // a job forgotten
//
// Writes are atomic (core/base/file_util.h): a reader, or a restart, sees
// the old record or the new one. Deciding which snapshot is newest is the
// caller's (TrainJobManager::SaveRecord). Thread-safe: it keeps no state but
// the directory; callers serialise the writes of one job.
#ifndef STRATA_SERVER_TRAIN_JOB_RECORDS_H_
#define STRATA_SERVER_TRAIN_JOB_RECORDS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "strata/v1/service.pb.h"

namespace strata {

// SUCCEEDED, FAILED or CANCELLED: the job will not change again.
bool IsTerminalState(v1::TrainJob::State state);

class TrainJobRecords {
 public:
  // `dir` empty: records live in memory only, and every call does nothing.
  explicit TrainJobRecords(std::string dir) : dir_(std::move(dir)) {}

  bool enabled() const { return !dir_.empty(); }

  // Creates the directory if missing and reads every record in it, oldest
  // first (by creation time). An unreadable record is skipped (logged); one
  // not ended is marked FAILED (interrupted), its unfinished sweep trials
  // CANCELLED, and written back.
  absl::StatusOr<std::vector<v1::TrainJob>> LoadAll() const;
  // Writes `record` to its file; a failure is logged (the job goes on).
  void Write(const v1::TrainJob& record) const;
  // Removes the record of job `id`.
  void Remove(const std::string& id) const;

 private:
  std::string PathOf(const std::string& id) const;

  const std::string dir_;
};

// The number the next job id takes ("job-<n>-<hex>"): above `at_least` - 1
// and above every n of `records`.
int64_t NextJobNumber(const std::vector<v1::TrainJob>& records, int64_t at_least);

// Marks a record of a job that had not ended FAILED, interrupted: the
// server stopped while it was queued or running.
void MarkInterrupted(int64_t now_micros, v1::TrainJob* record);

}  // namespace strata

#endif  // STRATA_SERVER_TRAIN_JOB_RECORDS_H_
