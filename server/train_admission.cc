#include "server/train_admission.h"

#include <sys/stat.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "core/data/column_names.h"
#include "core/data/csv_reader.h"
#include "core/data/data_path.h"
#include "core/model/model_store.h"
#include "core/train/train_config.h"
#include "core/train/train_memory.h"

namespace strata {
namespace {

// The checks that need neither the config nor the file system: names,
// labels, and where the data's class labels and column names come from.
absl::Status CheckSpecAgainstData(const v1::TrainJobSpec& spec, const TrainJobData& data) {
  if (absl::Status s = ModelStore::ValidateModelName(spec.model_name()); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("spec.model_name: ", s.message()));
  }
  for (const std::string& label : spec.labels()) {
    if (absl::Status s = ModelStore::ValidateLabel(label); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("spec.labels: ", s.message()));
    }
  }
  if (data.csv_path.empty() && data.rows.size() == 0) {
    return absl::InvalidArgumentError("the job has no training data");
  }
  if (!spec.label_column().empty() && data.csv_path.empty()) {
    return absl::InvalidArgumentError(
        "spec.label_column names a column of csv_path data; label inline or uploaded rows with "
        "spec.class_labels");
  }
  if (spec.class_labels_size() > 0 && !data.csv_path.empty()) {
    return absl::InvalidArgumentError(
        "spec.class_labels labels inline or uploaded rows; label csv_path data with "
        "spec.label_column");
  }
  if (spec.class_labels_size() > 0 && spec.class_labels_size() != data.rows.rows()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "spec.class_labels has ", spec.class_labels_size(), " labels for ", data.rows.rows(),
        " rows; give one per row "
        "(\"\" for an unlabelled row)"));
  }
  if (!v1::TrainJobSpec::CsvHeader_IsValid(spec.csv_header())) {
    return absl::InvalidArgumentError(
        absl::StrCat("spec.csv_header: unknown value ", spec.csv_header()));
  }
  if (data.csv_path.empty() && spec.csv_header() != v1::TrainJobSpec::CSV_HEADER_DETECT) {
    return absl::InvalidArgumentError(
        "spec.csv_header applies to csv_path data; inline or uploaded rows name their columns "
        "with DenseMatrix.column_names");
  }
  return absl::OkStatus();
}

// A sweep's trials, planned now so that each is checked.
absl::StatusOr<AdmittedSweep> PlanSweepOf(const v1::TrainJobSpec& spec, int width, bool labelled) {
  absl::StatusOr<std::vector<SweepTrialPlan>> plans =
      PlanSweep(spec.sweep(), spec.config(), width, labelled);
  if (!plans.ok())
    return absl::InvalidArgumentError(absl::StrCat("spec.", plans.status().message()));
  AdmittedSweep sweep;
  sweep.objective = ResolveSweepObjective(spec.sweep(), labelled);
  sweep.trains_head = SweepTrainsHead(sweep.objective, labelled);
  sweep.plans = *std::move(plans);
  return sweep;
}

// Resolves csv_path under data_root into data->csv_files.
absl::Status ResolveCsvFiles(const v1::TrainJobSpec& spec, const std::string& data_root,
                             TrainJobData* data) {
  absl::StatusOr<std::vector<std::string>> files = ResolveCsvPath(data_root, data->csv_path);
  if (!files.ok()) return files.status();
  if (!spec.label_column().empty() && files->size() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("spec.label_column: csv_path '", data->csv_path, "' names ", files->size(),
                     " files; class labels are read from one file, in memory"));
  }
  data->csv_files = *std::move(files);
  data->csv_path = data->csv_files[0];
  return absl::OkStatus();
}

// Checks one config (the job's, or a sweep trial's: `where` names it) as far
// as it can be before the data is read.
absl::Status CheckConfig(const v1::TrainConfig& config, const std::string& where, bool trains_head,
                         const AdmittedTrainJob& job, int width, const TrainJobLimits& limits) {
  const TrainJobData& data = job.data;
  absl::StatusOr<v1::TrainConfig> resolved = ResolveTrainConfig(config, width);
  if (!resolved.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, "spec.config: ", resolved.status().message()));
  }
  absl::Status s = CheckTrainingEpochs(*resolved, trains_head);
  if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat(where, "spec.config: ", s.message()));
  if (data.csv_path.empty()) {
    s = CheckTrainingRows(*resolved, data.rows.rows());
    if (s.ok()) {
      s = CheckTrainingMemory(EstimateTrainingMemory(*resolved, width, data.rows.rows()),
                              limits.max_job_memory_bytes);
    }
  } else {
    // Its width and rows are known once read: until then, the config's
    // share as for one column, and the file's text, which is read whole.
    s = CheckCsvMemory(*resolved, data.csv_files, job.spec.label_column().empty(),
                       limits.max_job_memory_bytes);
  }
  if (!s.ok()) return absl::Status(s.code(), absl::StrCat(where, s.message()));
  return absl::OkStatus();
}

// Indexes spec.class_labels into job->classes (an unknown class fails the
// submit, naming its row) and clears them from the spec.
absl::Status IndexSpecClassLabels(AdmittedTrainJob* job) {
  v1::TrainJobSpec& spec = job->spec;
  if (spec.class_labels_size() == 0) return absl::OkStatus();
  const std::vector<std::string> texts(spec.class_labels().begin(), spec.class_labels().end());
  absl::StatusOr<ClassLabels> indexed = IndexClassLabels(texts, DeclaredClassNames(spec.config()));
  if (!indexed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("spec.class_labels: ", indexed.status().message()));
  }
  job->classes = *std::move(indexed);
  spec.clear_class_labels();
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<AdmittedTrainJob> AdmitTrainJob(v1::TrainJobSpec spec, TrainJobData data,
                                               const TrainJobLimits& limits) {
  if (absl::Status s = CheckSpecAgainstData(spec, data); !s.ok()) return s;
  const bool inline_rows = data.csv_path.empty();
  if (inline_rows) {
    // The names now, so that a spec contradicting the rows' own creates no
    // job; the job records them.
    absl::StatusOr<std::vector<std::string>> names =
        ResolveTrainingNames({spec.feature_names().begin(), spec.feature_names().end()},
                             data.column_names, data.rows.cols());
    if (!names.ok()) return names.status();
    spec.mutable_feature_names()->Assign(names->begin(), names->end());
  }
  // The config now, so that a bad one creates no job. A CSV's width is known
  // only once it is read: its fields are checked here as for one column
  // (no check that depends on the width refuses a narrower input), and in
  // full when the job reads it. A sweep's trials are checked each.
  const int width = inline_rows ? static_cast<int>(data.rows.cols()) : 1;
  const bool labelled = spec.class_labels_size() > 0 || !spec.label_column().empty();
  AdmittedTrainJob job;
  if (spec.has_sweep()) {
    absl::StatusOr<AdmittedSweep> sweep = PlanSweepOf(spec, width, labelled);
    if (!sweep.ok()) return sweep.status();
    job.sweep = *std::move(sweep);
  }
  if (!inline_rows) {
    if (absl::Status s = ResolveCsvFiles(spec, limits.data_root, &data); !s.ok()) return s;
  }
  job.spec = std::move(spec);
  job.data = std::move(data);
  if (!job.sweep) {
    absl::Status s = CheckConfig(job.spec.config(), "", labelled, job, width, limits);
    if (!s.ok()) return s;
  } else {
    for (size_t i = 0; i < job.sweep->plans.size(); ++i) {
      absl::Status s =
          CheckConfig(job.sweep->plans[i].config, absl::StrCat("spec.sweep trial ", i + 1, ": "),
                      job.sweep->trains_head, job, width, limits);
      if (!s.ok()) return s;
    }
  }
  if (absl::Status s = IndexSpecClassLabels(&job); !s.ok()) return s;
  return job;
}

absl::StatusOr<std::vector<std::string>> ResolveCsvPath(const std::string& data_root,
                                                        const std::string& path) {
  if (data_root.empty()) {
    return absl::FailedPreconditionError(
        "this server takes no CSV paths (start it with --data_root to allow them)");
  }
  DataPathOptions options;
  options.root = data_root;
  // No comma lists: each part would escape the checks.
  options.comma_lists = false;
  options.path_name = "csv_path";
  options.root_name = "--data_root";
  return ResolveDataPath(path, options);
}

absl::Status CheckCsvMemory(const v1::TrainConfig& resolved, const std::vector<std::string>& files,
                            bool mapped, int64_t max_job_memory_bytes) {
  int64_t largest_size = -1;
  std::string largest;
  for (const std::string& path : files) {
    struct stat st;
    if (stat(path.c_str(), &st) != 0) {
      return absl::NotFoundError(absl::StrCat("cannot read the size of ", path));
    }
    if (st.st_size > largest_size) largest_size = st.st_size, largest = path;
  }
  TrainingMemory memory = EstimateTrainingMemory(resolved, 1, 0, mapped);
  // Each file is read whole, its text and its values (mapped: one shard at
  // a time, into the row file).
  absl::StatusOr<int64_t> read = EstimateCsvReadBytes(largest);
  if (!read.ok()) return read.status();
  memory.data_bytes += *read;
  return CheckTrainingMemory(memory, max_job_memory_bytes);
}

}  // namespace strata
