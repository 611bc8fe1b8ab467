// Admission of a TrainJob: whether a spec and its data may become a job,
// decided before anything is queued, as a function of the spec, the data and
// the server's limits.
//
// Everything that can be checked without reading CSV data is: the model
// name and labels, where class labels and column names come from, the
// config (each sweep trial's), the rows (enough to calibrate on) and the
// estimated memory. A CSV's width is known only once the job reads it, so
// its config is checked as for one column here, and in full then.
//
//   TrainJobLimits limits{options.data_root, options.max_job_memory_bytes};
//   absl::StatusOr<AdmittedTrainJob> job = AdmitTrainJob(spec, data, limits);
//
// Functions only; thread-safe (they read the file system, never write it).
#ifndef STRATA_SERVER_TRAIN_ADMISSION_H_
#define STRATA_SERVER_TRAIN_ADMISSION_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/data/class_labels.h"
#include "core/train/sweep.h"
#include "server/train_job_data.h"
#include "strata/v1/service.pb.h"

namespace strata {

// What admission reads of the server's options (TrainJobManager::Options).
struct TrainJobLimits {
  // The directory csv_path data is confined to. Empty: CSV paths are refused.
  std::string data_root;
  // The most bytes a job's estimated peak memory may take. 0: no limit.
  int64_t max_job_memory_bytes = 0;
};

// A sweep's plan: its objective and trials (core/train/sweep.h).
struct AdmittedSweep {
  v1::SweepObjective objective = v1::SWEEP_OBJECTIVE_UNSPECIFIED;
  bool trains_head = false;
  std::vector<SweepTrialPlan> plans;
};

// A job that may be queued.
struct AdmittedTrainJob {
  // The spec, with inline rows' feature names resolved and its class labels
  // moved, indexed, into `classes`.
  v1::TrainJobSpec spec;
  // The data, with csv_path's files resolved under data_root (csv_path is
  // then the first, canonical).
  TrainJobData data;
  // The inline or uploaded rows' class labels; empty without them, and for
  // CSV data (read with the file).
  ClassLabels classes;
  // Set for a sweep (spec.sweep).
  std::optional<AdmittedSweep> sweep;
};

// InvalidArgument for a bad name, label, config or missing data, or for rows
// too few to calibrate on; PermissionDenied for a CSV path outside
// data_root; FailedPrecondition when the server takes no CSV paths;
// ResourceExhausted beyond max_job_memory_bytes. Each error says which field
// (and which sweep trial) is at fault.
absl::StatusOr<AdmittedTrainJob> AdmitTrainJob(v1::TrainJobSpec spec, TrainJobData data,
                                               const TrainJobLimits& limits);

// The files of a job's csv_path under data_root (core/data/data_path.h,
// confined, no comma lists); FailedPrecondition when data_root is empty.
absl::StatusOr<std::vector<std::string>> ResolveCsvPath(const std::string& data_root,
                                                        const std::string& path);

// ResourceExhausted when a job on the CSV `files` cannot fit in
// `max_job_memory_bytes` whatever its width: the largest file's text (read
// whole) and the config's share as for one column (`mapped`: from a row
// file).
absl::Status CheckCsvMemory(const v1::TrainConfig& resolved, const std::vector<std::string>& files,
                            bool mapped, int64_t max_job_memory_bytes);

}  // namespace strata

#endif  // STRATA_SERVER_TRAIN_ADMISSION_H_
