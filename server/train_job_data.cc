#include "server/train_job_data.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/data/column_names.h"
#include "core/data/csv_reader.h"
#include "core/train/train_config.h"
#include "proto/train_job_csv.h"
#include "server/log.h"

namespace strata {
namespace {

// The outcome of trying a row file: mapped (OK), failed (its status), or
// to be read into memory instead (`fall_back`).
struct RowFileAttempt {
  absl::Status status;
  bool fall_back = false;
};

// Converts the CSV files once into a row file and maps it: trained from it,
// limited by disk, not by --max_train_values. A read-only data root and no
// --row_cache_dir falls back to reading one file into memory, as before row
// files.
RowFileAttempt MapRowFile(const std::string& job_id, const v1::TrainJobSpec& spec,
                          const TrainJobLoadOptions& options, TrainJobData* data,
                          std::vector<std::string>* names,
                          const std::function<void(int64_t, int)>& on_shape) {
  RowFile::Source source;
  source.files = data->csv_files;
  source.csv = CsvOptionsOf(spec);
  source.cache_dir = options.row_cache_dir;
  absl::StatusOr<std::unique_ptr<RowFile>> file = RowFile::FromCsv(source);
  if (file.ok()) {
    data->row_file = *std::move(file);
    Log(LogLevel::kInfo, "jobs",
        absl::StrCat(job_id, ": ",
                     data->row_file->converted() ? "converted its CSV data into " : "mapping ",
                     data->row_file->path()));
    const Eigen::Map<const Matrix> rows = data->row_file->rows();
    absl::StatusOr<std::vector<std::string>> resolved =
        ResolveTrainingNames(*names, data->row_file->column_names(), rows.cols());
    if (!resolved.ok()) return {resolved.status()};
    *names = *std::move(resolved);
    on_shape(rows.rows(), static_cast<int>(rows.cols()));
    return {absl::OkStatus()};
  }
  const bool unwritable = RowFile::IsUnwritable(file.status());
  if (!unwritable || !source.cache_dir.empty() || source.files.size() > 1) {
    if (!unwritable) return {file.status()};
    return {absl::Status(file.status().code(),
                         absl::StrCat(file.status().message(), " (--row_cache_dir)"))};
  }
  Log(LogLevel::kWarning, "jobs",
      absl::StrCat(job_id, ": ", file.status().message(),
                   "; reading the file into memory instead (--row_cache_dir names a writable "
                   "directory for row files)"));
  return {absl::OkStatus(), /*fall_back=*/true};
}

// Reads data->csv_path into memory (refused before the values are allocated
// beyond --max_train_values), with its class labels when spec.label_column
// names them.
absl::Status ReadCsvIntoMemory(const v1::TrainJobSpec& spec, const TrainJobLoadOptions& options,
                               TrainJobData* data, ClassLabels* classes,
                               std::vector<std::string>* names,
                               const std::function<void(int64_t, int)>& on_shape) {
  CsvOptions csv = CsvOptionsOf(spec);
  csv.max_values = options.max_train_values;
  absl::StatusOr<CsvTable> table = ReadCsvFile(data->csv_path, csv);
  if (!table.ok()) {
    if (absl::IsResourceExhausted(table.status())) {
      return absl::ResourceExhaustedError(
          absl::StrCat(table.status().message(), " (--max_train_values)"));
    }
    return table.status();
  }
  absl::StatusOr<std::vector<std::string>> resolved =
      ResolveTrainingNames(*names, table->column_names, table->values.cols());
  if (!resolved.ok()) return resolved.status();
  *names = *std::move(resolved);
  if (!spec.label_column().empty()) {
    absl::StatusOr<ClassLabels> labels =
        IndexClassLabels(table->labels, DeclaredClassNames(spec.config()), table->lines);
    if (!labels.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(data->csv_path, ", label column '",
                                                     spec.label_column(),
                                                     "': ", labels.status().message()));
    }
    *classes = *std::move(labels);
  }
  data->rows = std::move(table->values);
  on_shape(data->rows.rows(), static_cast<int>(data->rows.cols()));
  return absl::OkStatus();
}

}  // namespace

absl::Status LoadTrainJobData(const std::string& job_id, const v1::TrainJobSpec& spec,
                              const TrainJobLoadOptions& options, TrainJobData* data,
                              ClassLabels* classes, std::vector<std::string>* feature_names,
                              const std::function<void(int64_t rows, int cols)>& on_shape) {
  std::vector<std::string> names(spec.feature_names().begin(), spec.feature_names().end());
  if (!data->csv_files.empty() && spec.label_column().empty()) {
    const RowFileAttempt mapped = MapRowFile(job_id, spec, options, data, &names, on_shape);
    if (!mapped.fall_back) {
      if (mapped.status.ok()) *feature_names = std::move(names);
      return mapped.status;
    }
  }
  if (!data->csv_path.empty()) {
    absl::Status s = ReadCsvIntoMemory(spec, options, data, classes, &names, on_shape);
    if (!s.ok()) return s;
  }
  if (!names.empty() && static_cast<Eigen::Index>(names.size()) != data->rows.cols()) {
    return absl::InvalidArgumentError(absl::StrCat("spec.feature_names has ", names.size(),
                                                   " names for ", data->rows.cols(), " columns"));
  }
  *feature_names = std::move(names);
  return absl::OkStatus();
}

}  // namespace strata
