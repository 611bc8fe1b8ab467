#include "server/train_jobs.h"

#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "core/base/file_util.h"
#include "core/data/class_labels.h"
#include "core/data/column_names.h"
#include "core/data/csv_reader.h"
#include "core/train/train_config.h"
#include "core/train/train_memory.h"
#include "core/train/trainer.h"
#include "proto/train_job_csv.h"
#include "server/log.h"

namespace strata {
namespace {

int64_t NowMicros() { return absl::ToUnixMicros(absl::Now()); }

// The sum of epoch counts, at most INT_MAX.
int SumEpochs(const std::vector<int>& counts) {
  int64_t sum = 0;
  for (int n : counts) sum += n;
  return static_cast<int>(std::min<int64_t>(sum, INT_MAX));
}

// `text` with glob's special characters escaped, to match itself.
std::string GlobEscape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '*' || c == '?' || c == '[' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

bool IsTerminalState(v1::TrainJob::State s) {
  return s == v1::TrainJob::SUCCEEDED || s == v1::TrainJob::FAILED || s == v1::TrainJob::CANCELLED;
}

absl::StatusOr<std::vector<std::string>> TrainJobManager::ResolveDataPath(
    const std::string& data_root, const std::string& path) {
  if (data_root.empty()) {
    return absl::FailedPreconditionError(
        "this server takes no CSV paths (start it with --data_root to allow them)");
  }
  if (path.empty() || path[0] == '/') {
    return absl::PermissionDeniedError(
        absl::StrCat("csv_path '", path, "' must be relative to --data_root"));
  }
  // Lexically first: ".." that climbs above the root is refused whether or
  // not the target exists (no probing of the file system outside).
  int depth = 0;
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part == "..") {
      if (--depth < 0) {
        return absl::PermissionDeniedError(
            absl::StrCat("csv_path '", path, "' leads outside --data_root"));
      }
    } else if (!part.empty() && part != ".") {
      ++depth;
    }
  }
  char root_buf[PATH_MAX], path_buf[PATH_MAX];
  if (realpath(data_root.c_str(), root_buf) == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("--data_root ", data_root, " does not exist"));
  }
  const std::string root = root_buf;
  const std::string joined = absl::StrCat(root, "/", path);
  // A file, a directory (its *.csv) or a glob of the part under the root
  // (the root's own characters are escaped: they are not a pattern). No
  // comma lists: each part would escape these checks.
  std::vector<std::string> files;
  struct stat st;
  const bool exists = stat(joined.c_str(), &st) == 0;
  std::string pattern;
  if (exists && S_ISDIR(st.st_mode)) {
    pattern = GlobEscape(joined) + "/*.csv";
  } else if (!exists && path.find_first_of("*?[") != std::string::npos) {
    pattern = absl::StrCat(GlobEscape(root), "/", path);
  } else {
    files.push_back(joined);
  }
  if (!pattern.empty()) {
    glob_t matches = {};
    if (glob(pattern.c_str(), 0, nullptr, &matches) == 0) {
      for (size_t k = 0; k < matches.gl_pathc; ++k) files.emplace_back(matches.gl_pathv[k]);
    }
    globfree(&matches);
    if (files.empty()) {
      return absl::NotFoundError(
          absl::StrCat("csv_path '", path, "' matches no CSV file under --data_root"));
    }
  }
  for (std::string& file : files) {
    if (realpath(file.c_str(), path_buf) == nullptr) {
      return absl::NotFoundError(
          absl::StrCat("csv_path '", path, "' does not exist under --data_root"));
    }
    file = path_buf;
    if (!absl::StartsWith(file, root + "/")) {
      return absl::PermissionDeniedError(
          absl::StrCat("csv_path '", path, "' leads outside --data_root"));
    }
  }
  return files;
}

absl::StatusOr<std::unique_ptr<TrainJobManager>> TrainJobManager::Create(Options options) {
  if (options.store == nullptr || options.registry == nullptr) {
    return absl::InvalidArgumentError("the job manager needs a store and a registry");
  }
  if (options.max_concurrent_jobs < 0) {
    return absl::InvalidArgumentError("max_concurrent_jobs must be 0 (no training) or more");
  }
  if (!options.row_cache_dir.empty()) {
    // Checked now rather than by the first job that reads CSV data.
    if (options.data_root.empty()) {
      return absl::InvalidArgumentError(
          "row_cache_dir holds the row files of csv_path data, which needs data_root; set "
          "data_root, or leave row_cache_dir out");
    }
    if (absl::Status s = CreateDirectories(options.row_cache_dir); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("row_cache_dir: ", s.message()));
    }
  }
  std::unique_ptr<TrainJobManager> m(new TrainJobManager(std::move(options)));
  {
    MutexLock lock(&m->mu_);
    if (absl::Status s = m->LoadRecords(); !s.ok()) return s;
  }
  for (int i = 0; i < m->options_.max_concurrent_jobs; ++i) {
    m->workers_.emplace_back([p = m.get()] { p->WorkerLoop(); });
  }
  return m;
}

TrainJobManager::~TrainJobManager() {
  std::vector<std::shared_ptr<Job>> idle_sweeps;
  {
    MutexLock lock(&mu_);
    stopping_ = true;
    for (auto& [id, job] : jobs_) {
      job->cancel = true;
      // Queued trials will not run: the last running one, stopping, ends
      // the sweep CANCELLED, or here when none runs.
      if (job->sweep && job->record.state() == v1::TrainJob::RUNNING &&
          SkipRemainingTrials(job.get(), "the server stopped")) {
        idle_sweeps.push_back(job);
      }
    }
  }
  for (const std::shared_ptr<Job>& job : idle_sweeps) FinishSweep(job.get());
  work_cv_.SignalAll();
  for (std::thread& t : workers_) t.join();
}

absl::Status TrainJobManager::CheckTrains() const {
  if (options_.max_concurrent_jobs > 0) return absl::OkStatus();
  return absl::FailedPreconditionError(
      "this replica does not train (--max_concurrent_jobs=0): send TrainJobs to the trainer");
}

absl::Status TrainJobManager::CheckTrainValues(int64_t values, int64_t limit) {
  if (values <= limit) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat("the training data holds ", values,
                                                   " values; this server takes at most ", limit,
                                                   " (--max_train_values)"));
}

absl::StatusOr<v1::TrainJob> TrainJobManager::Submit(v1::TrainJobSpec spec, JobData data) {
  if (absl::Status s = CheckTrains(); !s.ok()) return s;
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
  if (data.csv_path.empty()) {
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
  const bool inline_rows = data.csv_path.empty();
  const int width = inline_rows ? static_cast<int>(data.rows.cols()) : 1;
  const bool labelled = spec.class_labels_size() > 0 || !spec.label_column().empty();
  std::unique_ptr<Job::Sweep> sweep;
  std::vector<const v1::TrainConfig*> configs = {&spec.config()};
  if (spec.has_sweep()) {
    absl::StatusOr<std::vector<SweepTrialPlan>> plans =
        PlanSweep(spec.sweep(), spec.config(), width, labelled);
    if (!plans.ok())
      return absl::InvalidArgumentError(absl::StrCat("spec.", plans.status().message()));
    sweep = std::make_unique<Job::Sweep>();
    sweep->objective = ResolveSweepObjective(spec.sweep(), labelled);
    sweep->trains_head = SweepTrainsHead(sweep->objective, labelled);
    sweep->plans = *std::move(plans);
    sweep->epochs_done.assign(sweep->plans.size(), 0);
    sweep->epochs_planned.assign(sweep->plans.size(), 0);
    configs.clear();
    for (const SweepTrialPlan& plan : sweep->plans) configs.push_back(&plan.config);
  }
  if (!inline_rows) {
    absl::StatusOr<std::vector<std::string>> files =
        ResolveDataPath(options_.data_root, data.csv_path);
    if (!files.ok()) return files.status();
    if (!spec.label_column().empty() && files->size() > 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("spec.label_column: csv_path '", data.csv_path, "' names ", files->size(),
                       " files; class labels are read from one file, in memory"));
    }
    data.csv_files = *std::move(files);
    data.csv_path = data.csv_files[0];
  }
  for (size_t i = 0; i < configs.size(); ++i) {
    const std::string where = sweep ? absl::StrCat("spec.sweep trial ", i + 1, ": ") : "";
    absl::StatusOr<v1::TrainConfig> resolved = ResolveTrainConfig(*configs[i], width);
    if (!resolved.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "spec.config: ", resolved.status().message()));
    }
    absl::Status s = CheckTrainingEpochs(*resolved, sweep ? sweep->trains_head : labelled);
    if (!s.ok())
      return absl::InvalidArgumentError(absl::StrCat(where, "spec.config: ", s.message()));
    if (inline_rows) {
      s = CheckTrainingRows(*resolved, data.rows.rows());
      if (s.ok()) {
        s = CheckTrainingMemory(EstimateTrainingMemory(*resolved, width, data.rows.rows()),
                                options_.max_job_memory_bytes);
      }
    } else {
      // Its width and rows are known once read: until then, the config's
      // share as for one column, and the file's text, which is read whole.
      s = CheckCsvMemory(*resolved, data.csv_files, spec.label_column().empty());
    }
    if (!s.ok()) return absl::Status(s.code(), absl::StrCat(where, s.message()));
  }
  // Indexed now, once: an unknown class fails the submit, naming its row.
  ClassLabels classes;
  if (spec.class_labels_size() > 0) {
    const std::vector<std::string> texts(spec.class_labels().begin(), spec.class_labels().end());
    absl::StatusOr<ClassLabels> indexed =
        IndexClassLabels(texts, DeclaredClassNames(spec.config()));
    if (!indexed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("spec.class_labels: ", indexed.status().message()));
    }
    classes = *std::move(indexed);
    spec.clear_class_labels();
  }
  const int64_t values = data.rows.size();
  const int64_t reserved = data.reserved_values;
  data.reserved_values = 0;
  auto job = std::make_shared<Job>();
  job->spec = std::move(spec);
  job->data = std::move(data);
  job->classes = std::move(classes);
  job->sweep = std::move(sweep);
  std::vector<std::shared_ptr<Job>> forgotten;
  v1::TrainJob queued;
  {
    MutexLock lock(&mu_);
    if (stopping_) return absl::UnavailableError("the server is shutting down");
    if (absl::Status s = CheckQueuedValues(values, reserved, "this job's"); !s.ok()) return s;
    std::random_device rd;
    v1::TrainJob& r = job->record;
    r.set_id(absl::StrFormat("job-%d-%04x", next_id_++, rd() & 0xffff));
    r.set_model_name(job->spec.model_name());
    r.set_state(v1::TrainJob::QUEUED);
    r.set_rows(job->data.rows.rows());
    r.set_cols(static_cast<int32_t>(job->data.rows.cols()));
    r.set_created_unix_micros(NowMicros());
    *r.mutable_labels() = job->spec.labels();
    if (job->sweep) {
      v1::SweepSummary& table = *r.mutable_sweep();
      table.set_objective(job->sweep->objective);
      for (size_t t = 0; t < job->sweep->plans.size(); ++t) {
        v1::SweepTrial& trial = *table.add_trials();
        trial.set_trial(static_cast<int32_t>(t) + 1);
        trial.mutable_settings()->Add(job->sweep->plans[t].settings.begin(),
                                      job->sweep->plans[t].settings.end());
        trial.set_state(v1::SweepTrial::QUEUED);
      }
    }
    RecordChanged(job.get());
    jobs_[r.id()] = job;
    order_.push_back(r.id());
    // A sweep queues one unit of work per trial.
    const size_t units = job->sweep ? job->sweep->plans.size() : 1;
    for (size_t u = 0; u < units; ++u) queue_.push_back(job);
    queued_values_ += values;
    uploading_values_ -= reserved;
    work_cv_.SignalAll();
    forgotten = ForgetOldJobs();
    queued = r;
  }
  RemoveRecords(forgotten);
  // On disk before the client hears of it: a job acknowledged survives a
  // restart (as FAILED, interrupted, if it had not ended).
  SaveRecord(job.get());
  Log(LogLevel::kInfo, "jobs",
      absl::StrCat("queued ", queued.id(), " for model ", queued.model_name()));
  return queued;
}

absl::Status TrainJobManager::CheckQueuedValues(int64_t values, int64_t reserved,
                                                absl::string_view what) const {
  const int64_t held = queued_values_ + uploading_values_ - reserved;
  if (values <= 0 || held + values <= options_.max_queued_values) return absl::OkStatus();
  return absl::ResourceExhaustedError(
      absl::StrCat("queued jobs and uploads in progress already hold ", held, " training values; ",
                   what, " ", values, " would exceed ", options_.max_queued_values,
                   " (--max_queued_train_values): submit it again once queued jobs have started"));
}

absl::Status TrainJobManager::ReserveUpload(int64_t values) {
  MutexLock lock(&mu_);
  if (absl::Status s = CheckQueuedValues(values, 0, "these rows'"); !s.ok()) return s;
  uploading_values_ += values;
  return absl::OkStatus();
}

void TrainJobManager::ReleaseUpload(int64_t values) {
  MutexLock lock(&mu_);
  uploading_values_ -= values;
}

absl::Status TrainJobManager::CheckCsvMemory(const v1::TrainConfig& resolved,
                                             const std::vector<std::string>& files,
                                             bool mapped) const {
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
  return CheckTrainingMemory(memory, options_.max_job_memory_bytes);
}

absl::StatusOr<v1::TrainJob> TrainJobManager::Get(const std::string& id) const {
  MutexLock lock(&mu_);
  const auto it = jobs_.find(id);
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("no train job '", id, "'"));
  return it->second->record;
}

absl::StatusOr<v1::TrainJob> TrainJobManager::Cancel(const std::string& id) {
  std::shared_ptr<Job> job;
  v1::TrainJob record;
  bool changed = false, finish_sweep = false;
  {
    MutexLock lock(&mu_);
    const auto it = jobs_.find(id);
    if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("no train job '", id, "'"));
    job = it->second;
    job->cancel = true;
    if (job->record.state() == v1::TrainJob::QUEUED) {
      // Not started: it ends now; the worker that dequeues it skips it.
      job->record.set_state(v1::TrainJob::CANCELLED);
      job->record.set_finished_unix_micros(NowMicros());
      queued_values_ -= job->data.rows.size();
      job->data = {};
      job->classes = {};
      if (job->sweep) SkipRemainingTrials(job.get(), "the sweep was cancelled");
      RecordChanged(job.get());
      changed = true;
    } else if (job->sweep && !IsTerminalState(job->record.state())) {
      // Its queued trials end now; running ones stop within a mini-batch,
      // and the last to stop ends the sweep (unless none runs).
      finish_sweep = SkipRemainingTrials(job.get(), "the sweep was cancelled");
      changed = true;
    }
    record = job->record;
  }
  // The record FinishSweep ends with: the job may be forgotten by then.
  if (finish_sweep) return FinishSweep(job.get());
  if (changed) SaveRecord(job.get());
  return record;
}

std::vector<v1::TrainJob> TrainJobManager::List(const std::string& model_name) const {
  MutexLock lock(&mu_);
  std::vector<v1::TrainJob> out;
  for (auto it = order_.rbegin(); it != order_.rend(); ++it) {
    const v1::TrainJob& r = jobs_.at(*it)->record;
    if (model_name.empty() || r.model_name() == model_name) out.push_back(r);
  }
  return out;
}

std::vector<std::shared_ptr<TrainJobManager::Job>> TrainJobManager::ForgetOldJobs() {
  std::vector<std::shared_ptr<Job>> forgotten;
  int finished = 0;
  for (const std::string& id : order_) finished += IsTerminalState(jobs_.at(id)->record.state());
  for (auto it = order_.begin(); it != order_.end() && finished > options_.max_finished_jobs;) {
    if (IsTerminalState(jobs_.at(*it)->record.state())) {
      forgotten.push_back(jobs_.at(*it));
      jobs_.erase(*it);
      it = order_.erase(it);
      --finished;
    } else {
      ++it;
    }
  }
  return forgotten;
}

void TrainJobManager::RemoveRecords(const std::vector<std::shared_ptr<Job>>& forgotten) {
  if (options_.records_dir.empty() || forgotten.empty()) return;
  MutexLock lock(&save_mu_);
  for (const std::shared_ptr<Job>& job : forgotten) {
    job->forgotten = true;  // a save still on its way finds it gone
    unlink(RecordPath(job->record.id()).c_str());
  }
}

std::string TrainJobManager::RecordPath(const std::string& id) const {
  return absl::StrCat(options_.records_dir, "/", id, ".pb");
}

void TrainJobManager::SaveRecord(Job* job) const {
  if (options_.records_dir.empty()) return;
  v1::TrainJob record;
  int64_t seq;
  {
    MutexLock lock(&mu_);
    record = job->record;
    seq = job->record_seq;
  }
  MutexLock lock(&save_mu_);
  if (job->forgotten || seq <= job->saved_seq) return;  // a newer one is on disk
  job->saved_seq = seq;
  WriteRecord(record);
}

void TrainJobManager::WriteRecord(const v1::TrainJob& record) const {
  if (absl::Status s = WriteFileAtomically(RecordPath(record.id()), record.SerializeAsString());
      !s.ok()) {
    Log(LogLevel::kWarning, "jobs",
        absl::StrCat("cannot save the record of ", record.id(), ": ", s.message()));
  }
}

absl::Status TrainJobManager::LoadRecords() {
  if (options_.records_dir.empty()) return absl::OkStatus();
  if (absl::Status s = CreateDirectories(options_.records_dir); !s.ok()) return s;
  absl::StatusOr<std::vector<std::string>> names = ListDir(options_.records_dir);
  if (!names.ok()) return names.status();
  std::vector<v1::TrainJob> records;
  for (const std::string& name : *names) {
    if (!absl::EndsWith(name, ".pb")) continue;
    const std::string path = absl::StrCat(options_.records_dir, "/", name);
    absl::StatusOr<std::string> bytes = ReadFileToString(path);
    v1::TrainJob record;
    if (!bytes.ok() || !record.ParseFromString(*bytes) || record.id().empty()) {
      Log(LogLevel::kWarning, "jobs", absl::StrCat("skipping unreadable job record ", path));
      continue;
    }
    if (!IsTerminalState(record.state())) {
      record.set_error(absl::StrCat("interrupted: the server stopped while the job was ",
                                    v1::TrainJob::State_Name(record.state()),
                                    "; nothing was published (submit it again)"));
      record.set_state(v1::TrainJob::FAILED);
      record.set_finished_unix_micros(NowMicros());
      for (v1::SweepTrial& trial : *record.mutable_sweep()->mutable_trials()) {
        if (trial.state() == v1::SweepTrial::QUEUED || trial.state() == v1::SweepTrial::RUNNING) {
          trial.set_state(v1::SweepTrial::CANCELLED);
          trial.set_error("interrupted: the server stopped");
        }
      }
      WriteRecord(record);
      Log(LogLevel::kWarning, "jobs", absl::StrCat(record.id(), " FAILED: ", record.error()));
    }
    records.push_back(std::move(record));
  }
  std::sort(records.begin(), records.end(), [](const v1::TrainJob& a, const v1::TrainJob& b) {
    return a.created_unix_micros() < b.created_unix_micros();
  });
  for (v1::TrainJob& record : records) {
    // Ids are job-<n>-<hex>: new ones continue after the highest n.
    int64_t n = 0;
    const std::vector<std::string> parts = absl::StrSplit(record.id(), '-');
    if (parts.size() == 3 && absl::SimpleAtoi(parts[1], &n)) next_id_ = std::max(next_id_, n + 1);
    auto job = std::make_shared<Job>();
    job->record = std::move(record);
    order_.push_back(job->record.id());
    jobs_[job->record.id()] = std::move(job);
  }
  // Before any worker starts: nothing else writes records yet.
  for (const std::shared_ptr<Job>& job : ForgetOldJobs()) {
    unlink(RecordPath(job->record.id()).c_str());
  }
  return absl::OkStatus();
}

void TrainJobManager::WorkerLoop() {
  while (true) {
    std::shared_ptr<Job> job;
    int trial = -1;
    {
      MutexLock lock(&mu_);
      work_cv_.Wait(&mu_, [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || !queue_.empty();
      });
      if (stopping_) return;
      job = queue_.front();
      queue_.pop_front();
      // Cancelled while queued; or a sweep that has started all its trials
      // (or skipped them).
      if (IsTerminalState(job->record.state())) continue;
      if (job->sweep && job->sweep->next >= static_cast<int>(job->sweep->plans.size())) continue;
      if (job->record.state() == v1::TrainJob::QUEUED) {
        queued_values_ -= job->data.rows.size();
        job->record.set_state(v1::TrainJob::RUNNING);
        job->record.set_started_unix_micros(NowMicros());
      }
      if (job->sweep) {
        trial = job->sweep->next++;
        ++job->sweep->running;
        job->record.mutable_sweep()->mutable_trials(trial)->set_state(v1::SweepTrial::RUNNING);
      }
      RecordChanged(job.get());
    }
    SaveRecord(job.get());
    if (job->sweep) {
      RunTrial(job.get(), trial);
    } else {
      RunJob(job.get());
    }
  }
}

void TrainJobManager::RunJob(Job* job) {
  Log(LogLevel::kInfo, "jobs", absl::StrCat("running ", job->record.id()));
  absl::StatusOr<int64_t> version = TrainAndPublish(job);
  if (version.ok()) {
    Finish(job, v1::TrainJob::SUCCEEDED, "", *version);
  } else if (absl::IsCancelled(version.status())) {
    Finish(job, v1::TrainJob::CANCELLED, std::string(version.status().message()), 0);
  } else {
    Finish(job, v1::TrainJob::FAILED, std::string(version.status().message()), 0);
  }
}

absl::Status TrainJobManager::LoadData(Job* job) {
  MutexLock load(&job->load_mu);
  if (job->loaded) return job->load_status;
  job->loaded = true;
  const v1::TrainJobSpec& spec = job->spec;
  std::vector<std::string> names(spec.feature_names().begin(), spec.feature_names().end());
  if (!job->data.csv_files.empty() && spec.label_column().empty()) {
    // Converted once into a row file and trained from it mapped: limited by
    // disk, not by --max_train_values.
    RowFile::Source source;
    source.files = job->data.csv_files;
    source.csv = CsvOptionsOf(spec);
    source.cache_dir = options_.row_cache_dir;
    absl::StatusOr<std::unique_ptr<RowFile>> file = RowFile::FromCsv(source);
    if (file.ok()) {
      job->data.row_file = *std::move(file);
      Log(LogLevel::kInfo, "jobs",
          absl::StrCat(
              job->record.id(), ": ",
              job->data.row_file->converted() ? "converted its CSV data into " : "mapping ",
              job->data.row_file->path()));
      const Eigen::Map<const Matrix> rows = job->data.row_file->rows();
      absl::StatusOr<std::vector<std::string>> resolved =
          ResolveTrainingNames(names, job->data.row_file->column_names(), rows.cols());
      if (!resolved.ok()) {
        job->load_status = resolved.status();
        return job->load_status;
      }
      job->feature_names = *std::move(resolved);
      MutexLock lock(&mu_);
      job->record.set_rows(rows.rows());
      job->record.set_cols(static_cast<int32_t>(rows.cols()));
      return absl::OkStatus();
    }
    // A read-only data root and no --row_cache_dir: one file is read into
    // memory, as before row files (bounded by --max_train_values).
    const bool unwritable = RowFile::IsUnwritable(file.status());
    if (!unwritable || !source.cache_dir.empty() || source.files.size() > 1) {
      job->load_status = file.status();
      if (unwritable) {
        job->load_status = absl::Status(
            file.status().code(), absl::StrCat(file.status().message(), " (--row_cache_dir)"));
      }
      return job->load_status;
    }
    Log(LogLevel::kWarning, "jobs",
        absl::StrCat(job->record.id(), ": ", file.status().message(),
                     "; reading the file into memory instead (--row_cache_dir names a writable "
                     "directory for row files)"));
  }
  if (!job->data.csv_path.empty()) {
    CsvOptions csv = CsvOptionsOf(spec);
    // Refused before the values are allocated.
    csv.max_values = options_.max_train_values;
    absl::StatusOr<CsvTable> table = ReadCsvFile(job->data.csv_path, csv);
    if (!table.ok()) {
      job->load_status = table.status();
      if (absl::IsResourceExhausted(table.status())) {
        job->load_status = absl::ResourceExhaustedError(
            absl::StrCat(table.status().message(), " (--max_train_values)"));
      }
      return job->load_status;
    }
    absl::StatusOr<std::vector<std::string>> resolved =
        ResolveTrainingNames(names, table->column_names, table->values.cols());
    if (!resolved.ok()) {
      job->load_status = resolved.status();
      return job->load_status;
    }
    names = *std::move(resolved);
    if (!spec.label_column().empty()) {
      absl::StatusOr<ClassLabels> labels =
          IndexClassLabels(table->labels, DeclaredClassNames(spec.config()), table->lines);
      if (!labels.ok()) {
        job->load_status = absl::InvalidArgumentError(
            absl::StrCat(job->data.csv_path, ", label column '", spec.label_column(),
                         "': ", labels.status().message()));
        return job->load_status;
      }
      job->classes = *std::move(labels);
    }
    job->data.rows = std::move(table->values);
    MutexLock lock(&mu_);
    job->record.set_rows(job->data.rows.rows());
    job->record.set_cols(static_cast<int32_t>(job->data.rows.cols()));
  }
  if (!names.empty() && static_cast<Eigen::Index>(names.size()) != job->data.rows.cols()) {
    job->load_status = absl::InvalidArgumentError(absl::StrCat(
        "spec.feature_names has ", names.size(), " names for ", job->data.rows.cols(), " columns"));
    return job->load_status;
  }
  job->feature_names = std::move(names);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Model>> TrainJobManager::TrainModel(Job* job,
                                                                   const v1::TrainConfig& config,
                                                                   const std::vector<int>& classes,
                                                                   int trial) {
  const Matrix& rows = job->data.rows;
  const std::shared_ptr<const RowFile> file = job->data.row_file;
  const Eigen::Index data_rows = file != nullptr ? file->rows().rows() : rows.rows();
  const int data_cols = static_cast<int>(file != nullptr ? file->rows().cols() : rows.cols());
  Trainer::Options options;
  options.config = config;
  options.input_dim = data_cols;
  options.feature_names = job->feature_names;
  if (!classes.empty()) options.class_names = job->classes.names;
  options.cancel = &job->cancel;
  options.on_epoch = [this, job, trial](const TrainProgress& p) {
    v1::TrainJobProgress progress;
    progress.set_phase(p.record.phase());
    progress.set_layer(p.record.layer());
    progress.set_epoch(p.record.epoch());
    progress.set_train_loss(p.record.train_loss());
    if (p.record.has_validation_loss()) progress.set_validation_loss(p.record.validation_loss());
    if (p.record.has_validation_accuracy()) {
      progress.set_validation_accuracy(p.record.validation_accuracy());
    }
    progress.set_learning_rate(p.record.learning_rate());
    progress.set_epochs_done(p.epochs_done);
    progress.set_epochs_planned(p.epochs_planned);
    progress.set_elapsed_seconds(p.elapsed_seconds);
    progress.set_eta_seconds(p.eta_seconds);
    progress.set_trial(trial);
    progress.set_network(p.network);
    progress.set_networks(p.networks);
    MutexLock lock(&mu_);
    *job->record.mutable_progress() = std::move(progress);
    if (trial > 0 && job->sweep) {
      // The trial's own counts; the job's are every trial's.
      job->sweep->epochs_done[trial - 1] = p.epochs_done;
      job->sweep->epochs_planned[trial - 1] = p.epochs_planned;
      UpdateSweepProgress(job);
    }
  };
  absl::StatusOr<std::unique_ptr<Trainer>> trainer = Trainer::Create(std::move(options));
  if (!trainer.ok()) return trainer.status();
  // Known in full only now for CSV data (inline rows were checked at Submit).
  if (absl::Status s = CheckTrainingMemory(
          EstimateTrainingMemory((*trainer)->config(), data_cols, data_rows, file != nullptr),
          options_.max_job_memory_bytes);
      !s.ok()) {
    return s;
  }
  return file != nullptr ? (*trainer)->Train(*file) : (*trainer)->Train(rows, classes);
}

absl::StatusOr<int64_t> TrainJobManager::Publish(Job* job, const Model& model) {
  const v1::TrainJobSpec& spec = job->spec;
  absl::StatusOr<int64_t> version = options_.store->Publish(spec.model_name(), model);
  if (!version.ok()) return version.status();
  {
    MutexLock lock(&mu_);
    *job->record.mutable_warnings() = model.info().summary.warnings();
    // What GetModel and `strata inspect` give: the CLI reports the job's
    // epochs and seconds from here, not from the last epoch's progress.
    *job->record.mutable_summary() = model.info().summary;
    job->record.mutable_summary()->clear_sweep();
  }
  for (const std::string& label : spec.labels()) {
    absl::StatusOr<std::map<std::string, int64_t>> labels =
        options_.registry->SetLabel(spec.model_name(), label, *version);
    if (!labels.ok()) {
      // The job succeeded (the version is published) but a caller waiting
      // on it must hear that its label did not move.
      const std::string warning =
          absl::StrCat("published version ", *version, " but could not set label ", label, ": ",
                       labels.status().message());
      Log(LogLevel::kError, "jobs", absl::StrCat(job->record.id(), ": ", warning));
      MutexLock lock(&mu_);
      job->record.add_warnings(warning);
    }
  }
  options_.registry->Refresh();
  return version;
}

absl::StatusOr<int64_t> TrainJobManager::TrainAndPublish(Job* job) {
  if (absl::Status s = LoadData(job); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<Model>> model =
      TrainModel(job, job->spec.config(), job->classes.classes, 0);
  {
    MutexLock load(&job->load_mu);
    job->data.rows = Matrix();   // the data is no longer needed
    job->data.row_file.reset();  // (a sweep's, when it finishes)
  }
  if (!model.ok()) return model.status();
  if (job->cancel) return absl::CancelledError("cancelled before publishing");
  return Publish(job, **model);
}

void TrainJobManager::RunTrial(Job* job, int t) {
  Job::Sweep& sweep = *job->sweep;
  v1::SweepTrial result;
  {
    MutexLock lock(&mu_);
    result = job->record.sweep().trials(t);
  }
  const absl::Status loaded = LoadData(job);
  if (loaded.ok()) PlanSweepEpochs(job);
  std::unique_ptr<Model> model;
  absl::Status status = loaded;
  if (status.ok() && job->cancel) status = absl::CancelledError("the sweep was cancelled");
  if (status.ok()) {
    const std::vector<int> none;
    absl::StatusOr<std::unique_ptr<Model>> trained = TrainModel(
        job, sweep.plans[t].config, sweep.trains_head ? job->classes.classes : none, t + 1);
    status = trained.status();
    if (trained.ok()) {
      model = *std::move(trained);
      status =
          ScoreSweepTrial(sweep.objective, *model, job->data.rows, job->classes.classes, &result);
    }
  }
  result.set_state(status.ok()                 ? v1::SweepTrial::SUCCEEDED
                   : absl::IsCancelled(status) ? v1::SweepTrial::CANCELLED
                                               : v1::SweepTrial::FAILED);
  result.set_error(std::string(status.message()));
  Log(status.ok() ? LogLevel::kInfo : LogLevel::kWarning, "jobs",
      absl::StrCat(job->record.id(), " trial ", t + 1, " (", FormatSweepSettings(result), ") ",
                   v1::SweepTrial::State_Name(result.state()),
                   status.ok() ? absl::StrCat(": objective ", result.objective())
                               : absl::StrCat(": ", status.message())));
  bool last;
  {
    MutexLock lock(&mu_);
    v1::SweepSummary& table = *job->record.mutable_sweep();
    *table.mutable_trials(t) = result;
    --sweep.running;
    ++sweep.ended;
    // It ran what it ran: the plan keeps none of its unspent epochs.
    sweep.epochs_planned[t] = sweep.epochs_done[t];
    UpdateSweepProgress(job);
    if (status.ok() &&
        (sweep.best == nullptr || SweepBetter(sweep.objective, result.objective(),
                                              table.trials(table.best_trial() - 1).objective()))) {
      sweep.best = std::move(model);
      table.set_best_trial(t + 1);
    }
    last = false;
    if (!loaded.ok() && sweep.failure.ok()) {
      // The data cannot be read: no other trial can run.
      sweep.failure = loaded;
      last = SkipRemainingTrials(job, "not run: the data could not be read");
    }
    if (!last) {
      last = sweep.ended == static_cast<int>(sweep.plans.size()) && !sweep.finishing;
      sweep.finishing |= last;
    }
    RecordChanged(job);
  }
  if (last) {
    FinishSweep(job);
  } else {
    SaveRecord(job);
  }
}

void TrainJobManager::PlanSweepEpochs(Job* job) {
  Job::Sweep& sweep = *job->sweep;
  {
    MutexLock lock(&mu_);
    if (sweep.epochs_planned_from_configs) return;
    sweep.epochs_planned_from_configs = true;
  }
  // The data is read-only once loaded (LoadData), as TrainModel reads it.
  const std::shared_ptr<const RowFile> file = job->data.row_file;
  const int64_t rows = file != nullptr ? file->rows().rows() : job->data.rows.rows();
  const int cols = static_cast<int>(file != nullptr ? file->rows().cols() : job->data.rows.cols());
  std::vector<int> planned(sweep.plans.size(), 0);
  for (size_t t = 0; t < sweep.plans.size(); ++t) {
    absl::StatusOr<v1::TrainConfig> resolved = ResolveTrainConfig(sweep.plans[t].config, cols);
    // A config the data's width refuses fails its trial, which says why.
    if (!resolved.ok()) continue;
    planned[t] =
        PlannedEpochs(*resolved, TrainedNetworks(*resolved, rows, cols), sweep.trains_head);
  }
  MutexLock lock(&mu_);
  for (size_t t = 0; t < planned.size(); ++t) {
    // A trial whose trainer has reported keeps its own count; one that
    // ended (or was skipped), what it ran.
    const v1::SweepTrial::State state = job->record.sweep().trials(static_cast<int>(t)).state();
    const bool pending = state == v1::SweepTrial::QUEUED || state == v1::SweepTrial::RUNNING;
    if (pending && sweep.epochs_done[t] == 0) sweep.epochs_planned[t] = planned[t];
  }
  UpdateSweepProgress(job);
}

void TrainJobManager::UpdateSweepProgress(Job* job) {
  const Job::Sweep& sweep = *job->sweep;
  v1::TrainJobProgress& progress = *job->record.mutable_progress();
  const int done = SumEpochs(sweep.epochs_done);
  const int planned = SumEpochs(sweep.epochs_planned);
  progress.set_epochs_done(done);
  progress.set_epochs_planned(planned);
  // Trials may run at once: the pace is the job's, not a trial's.
  if (done > 0 && job->record.started_unix_micros() > 0) {
    const double elapsed =
        static_cast<double>(NowMicros() - job->record.started_unix_micros()) / 1e6;
    progress.set_elapsed_seconds(elapsed);
    progress.set_eta_seconds(elapsed / done * std::max(0, planned - done));
  }
}

bool TrainJobManager::SkipRemainingTrials(Job* job, const std::string& why) {
  Job::Sweep& sweep = *job->sweep;
  const int total = static_cast<int>(sweep.plans.size());
  for (; sweep.next < total; ++sweep.next, ++sweep.ended) {
    v1::SweepTrial& trial = *job->record.mutable_sweep()->mutable_trials(sweep.next);
    trial.set_state(v1::SweepTrial::CANCELLED);
    trial.set_error(why);
    sweep.epochs_planned[sweep.next] = 0;
  }
  UpdateSweepProgress(job);
  RecordChanged(job);
  const bool finish = sweep.running == 0 && !sweep.finishing;
  sweep.finishing |= finish;
  return finish;
}

v1::TrainJob TrainJobManager::FinishSweep(Job* job) {
  Job::Sweep& sweep = *job->sweep;
  std::unique_ptr<Model> best;
  v1::SweepSummary table;
  absl::Status failure;
  {
    MutexLock lock(&mu_);
    best = std::move(sweep.best);
    table = job->record.sweep();
    failure = sweep.failure;
  }
  if (job->cancel) {
    return Finish(job, v1::TrainJob::CANCELLED, "the sweep was cancelled: nothing was published",
                  0);
  }
  if (!failure.ok()) {
    return Finish(job, v1::TrainJob::FAILED, std::string(failure.message()), 0);
  }
  if (best == nullptr) {
    std::string why = "every trial failed";
    int shown = 0;
    for (const v1::SweepTrial& trial : table.trials()) {
      if (trial.state() != v1::SweepTrial::FAILED || shown++ == 3) continue;
      absl::StrAppend(&why, "; trial ", trial.trial(), " (", FormatSweepSettings(trial),
                      "): ", trial.error());
    }
    return Finish(job, v1::TrainJob::FAILED, why, 0);
  }
  // The best trial's model, with every trial's result in its summary.
  ModelInfo info = best->info();
  *info.summary.mutable_sweep() = table;
  const Model published = best->WithInfo(std::move(info));
  best.reset();
  absl::StatusOr<int64_t> version = Publish(job, published);
  if (!version.ok()) {
    return Finish(job, v1::TrainJob::FAILED, std::string(version.status().message()), 0);
  }
  return Finish(job, v1::TrainJob::SUCCEEDED, "", *version);
}

v1::TrainJob TrainJobManager::Finish(Job* job, v1::TrainJob::State state, const std::string& error,
                                     int64_t version) {
  v1::TrainJob record;
  std::vector<std::shared_ptr<Job>> forgotten;
  {
    MutexLock lock(&mu_);
    record = FinishLocked(job, state, error, version);
    forgotten = ForgetOldJobs();
  }
  SaveRecord(job);
  RemoveRecords(forgotten);
  if (options_.on_finish) options_.on_finish(record);
  return record;
}

v1::TrainJob TrainJobManager::FinishLocked(Job* job, v1::TrainJob::State state,
                                           const std::string& error, int64_t version) {
  job->record.set_state(state);
  job->record.set_error(error);
  job->record.set_version(version);
  job->record.set_finished_unix_micros(NowMicros());
  job->data = {};
  job->classes = {};
  Log(state == v1::TrainJob::FAILED ? LogLevel::kWarning : LogLevel::kInfo, "jobs",
      absl::StrCat(
          job->record.id(), " ", v1::TrainJob::State_Name(state),
          version ? absl::StrCat(": published ", job->record.model_name(), " version ", version)
                  : "",
          error.empty() ? "" : absl::StrCat(": ", error)));
  RecordChanged(job);
  return job->record;
}

}  // namespace strata
