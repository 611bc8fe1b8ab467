// TrainJobData: the training data of a TrainJob, and LoadTrainJobData, which
// reads a job's CSV data once the job runs.
//
// A job trains on rows in memory (inline or uploaded) or on CSV data under
// --data_root (a file, a directory of shards or a glob; core/data/data_path.h).
// CSV data without a label column is converted into a row file
// (core/data/row_file.h) and trained from it mapped, limited by disk; with a
// label column, or when no row file can be written (a read-only data root
// and no --row_cache_dir, one file), it is read into memory, bounded by
// --max_train_values.
//
//   TrainJobLoad load = LoadTrainJobData(id, spec, options, &data, on_shape);
//
// Functions only; thread-compatible (a job loads its data once, under its
// own lock).
#ifndef STRATA_SERVER_TRAIN_JOB_DATA_H_
#define STRATA_SERVER_TRAIN_JOB_DATA_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "core/data/class_labels.h"
#include "core/data/row_file.h"
#include "core/nn/matrix.h"
#include "strata/v1/service.pb.h"

namespace strata {

// The data of a job: rows in memory, or CSV data under data_root (a file, a
// directory of shards or a glob). CSV data trains from a row file
// (core/data/row_file.h), or in memory when it has a label column.
struct TrainJobData {
  Matrix rows;
  // The names inline or uploaded rows gave their columns
  // (DenseMatrix.column_names); empty when they gave none, and for csv_path
  // data (whose files name their own).
  std::vector<std::string> column_names;
  std::string csv_path;
  // csv_path's files, resolved under data_root by admission
  // (server/train_admission.h).
  std::vector<std::string> csv_files;
  // CSV data without labels: its row file, mapped once the job reads it,
  // released with the rest of the data.
  std::shared_ptr<const RowFile> row_file;
  // Values of an upload's reservation (TrainJobManager::ReserveUpload) that
  // the job takes over when Submit queues it; the uploader keeps them
  // otherwise.
  int64_t reserved_values = 0;
};

struct TrainJobLoadOptions {
  // Where row files go (TrainJobManager::Options::row_cache_dir). Default
  // empty: next to the first shard.
  std::string row_cache_dir;
  // The most values CSV data read into memory may hold. Default 2^28.
  int64_t max_train_values = int64_t{1} << 28;
};

// Reads `data`'s CSV data, if any, for the job `job_id` (which log lines
// name) of `spec`: maps its row file into data->row_file, or reads it into
// data->rows with its class labels (spec.label_column) into *classes. Then
// resolves the feature names (spec.feature_names, else the data's) into
// *feature_names. `on_shape` is called with the rows and columns of CSV data
// once they are read (not for rows that came in memory).
absl::Status LoadTrainJobData(const std::string& job_id, const v1::TrainJobSpec& spec,
                              const TrainJobLoadOptions& options, TrainJobData* data,
                              ClassLabels* classes, std::vector<std::string>* feature_names,
                              const std::function<void(int64_t rows, int cols)>& on_shape);

}  // namespace strata

#endif  // STRATA_SERVER_TRAIN_JOB_DATA_H_
