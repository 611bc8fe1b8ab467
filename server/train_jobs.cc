#include "server/train_jobs.h"

#include <algorithm>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "core/base/file_util.h"
#include "core/train/sweep.h"
#include "core/train/train_config.h"
#include "core/train/train_memory.h"
#include "core/train/trainer.h"
#include "proto/train_progress.h"
#include "server/log.h"

namespace strata {
namespace {

int64_t NowMicros() { return absl::ToUnixMicros(absl::Now()); }

}  // namespace

absl::StatusOr<std::vector<std::string>> TrainJobManager::ResolveDataPath(
    const std::string& data_root, const std::string& path) {
  return ResolveCsvPath(data_root, path);
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
      MutexLock job_lock(&job->mu);
      // Queued trials will not run: the last running one, stopping, ends
      // the sweep CANCELLED, or here when none runs.
      if (job->sweep == nullptr || job->record.state() != v1::TrainJob::RUNNING) continue;
      const SweepRun::Action action =
          job->sweep->OnCancel("the server stopped", NowMicros(), &job->record);
      RecordChanged(job.get());
      if (action == SweepRun::Action::kFinish) idle_sweeps.push_back(job);
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

std::shared_ptr<TrainJobManager::Job> TrainJobManager::NewJob(AdmittedTrainJob admitted) {
  auto job = std::make_shared<Job>();
  job->spec = std::move(admitted.spec);
  job->data = std::move(admitted.data);
  job->classes = std::move(admitted.classes);
  job->sweep_plan = std::move(admitted.sweep);
  MutexLock lock(&job->mu);
  v1::TrainJob& r = job->record;
  r.set_model_name(job->spec.model_name());
  r.set_state(v1::TrainJob::QUEUED);
  r.set_rows(job->data.rows.rows());
  r.set_cols(static_cast<int32_t>(job->data.rows.cols()));
  *r.mutable_labels() = job->spec.labels();
  if (job->sweep_plan) {
    job->sweep = std::make_unique<SweepRun>(*job->sweep_plan);
    *r.mutable_sweep() = job->sweep->initial_table();
  }
  return job;
}

absl::StatusOr<v1::TrainJob> TrainJobManager::Submit(v1::TrainJobSpec spec, JobData data) {
  if (absl::Status s = CheckTrains(); !s.ok()) return s;
  TrainJobLimits limits;
  limits.data_root = options_.data_root;
  limits.max_job_memory_bytes = options_.max_job_memory_bytes;
  absl::StatusOr<AdmittedTrainJob> admitted =
      AdmitTrainJob(std::move(spec), std::move(data), limits);
  if (!admitted.ok()) return admitted.status();
  const int64_t values = admitted->data.rows.size();
  const int64_t reserved = admitted->data.reserved_values;
  admitted->data.reserved_values = 0;
  const std::shared_ptr<Job> job = NewJob(*std::move(admitted));
  std::vector<std::shared_ptr<Job>> forgotten;
  v1::TrainJob queued;
  {
    MutexLock lock(&mu_);
    if (stopping_) return absl::UnavailableError("the server is shutting down");
    if (absl::Status s = CheckQueuedValues(values, reserved, "this job's"); !s.ok()) return s;
    std::random_device rd;
    job->id = absl::StrFormat("job-%d-%04x", next_id_++, rd() & 0xffff);
    {
      MutexLock job_lock(&job->mu);
      job->record.set_id(job->id);
      job->record.set_created_unix_micros(NowMicros());
      RecordChanged(job.get());
      queued = job->record;
    }
    jobs_[job->id] = job;
    order_.push_back(job->id);
    // A sweep queues one unit of work per trial.
    const size_t units = job->sweep_plan ? job->sweep_plan->plans.size() : 1;
    for (size_t u = 0; u < units; ++u) queue_.push_back(job);
    queued_values_ += values;
    uploading_values_ -= reserved;
    work_cv_.SignalAll();
    forgotten = ForgetOldJobs();
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

absl::StatusOr<v1::TrainJob> TrainJobManager::Get(const std::string& id) const {
  MutexLock lock(&mu_);
  const auto it = jobs_.find(id);
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("no train job '", id, "'"));
  MutexLock job_lock(&it->second->mu);
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
    MutexLock job_lock(&job->mu);
    if (job->record.state() == v1::TrainJob::QUEUED) {
      // Not started: it ends now; the worker that dequeues it skips it.
      job->record.set_state(v1::TrainJob::CANCELLED);
      job->record.set_finished_unix_micros(NowMicros());
      queued_values_ -= job->data.rows.size();
      job->data = {};
      job->classes = {};
      if (job->sweep) job->sweep->OnCancel("the sweep was cancelled", NowMicros(), &job->record);
      RecordChanged(job.get());
      changed = true;
    } else if (job->sweep && !IsTerminalState(job->record.state())) {
      // Its queued trials end now; running ones stop within a mini-batch,
      // and the last to stop ends the sweep (unless none runs).
      finish_sweep = job->sweep->OnCancel("the sweep was cancelled", NowMicros(), &job->record) ==
                     SweepRun::Action::kFinish;
      RecordChanged(job.get());
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
    const Job& job = *jobs_.at(*it);
    MutexLock job_lock(&job.mu);
    if (model_name.empty() || job.record.model_name() == model_name) out.push_back(job.record);
  }
  return out;
}

std::vector<std::shared_ptr<TrainJobManager::Job>> TrainJobManager::ForgetOldJobs() {
  const auto ended = [](const Job& job) {
    MutexLock lock(&job.mu);
    return IsTerminalState(job.record.state());
  };
  std::vector<std::shared_ptr<Job>> forgotten;
  int finished = 0;
  for (const std::string& id : order_) finished += ended(*jobs_.at(id));
  for (auto it = order_.begin(); it != order_.end() && finished > options_.max_finished_jobs;) {
    if (ended(*jobs_.at(*it))) {
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
  if (!records_.enabled()) return;
  for (const std::shared_ptr<Job>& job : forgotten) {
    MutexLock lock(&job->save_mu);
    job->forgotten = true;  // a save still on its way finds it gone
    records_.Remove(job->id);
  }
}

void TrainJobManager::SaveRecord(Job* job) const {
  if (!records_.enabled()) return;
  v1::TrainJob record;
  int64_t seq;
  {
    MutexLock lock(&job->mu);
    record = job->record;
    seq = job->record_seq;
  }
  MutexLock lock(&job->save_mu);
  if (job->forgotten || seq <= job->saved_seq) return;  // a newer one is on disk
  job->saved_seq = seq;
  records_.Write(record);
}

absl::Status TrainJobManager::LoadRecords() {
  absl::StatusOr<std::vector<v1::TrainJob>> records = records_.LoadAll();
  if (!records.ok()) return records.status();
  next_id_ = NextJobNumber(*records, next_id_);
  for (v1::TrainJob& record : *records) {
    auto job = std::make_shared<Job>();
    job->id = record.id();
    {
      MutexLock lock(&job->mu);
      job->record = std::move(record);
    }
    order_.push_back(job->id);
    jobs_[job->id] = std::move(job);
  }
  // Before any worker starts: nothing else writes records yet.
  for (const std::shared_ptr<Job>& job : ForgetOldJobs()) records_.Remove(job->id);
  return absl::OkStatus();
}

std::shared_ptr<TrainJobManager::Job> TrainJobManager::NextWork(int* trial) {
  MutexLock lock(&mu_);
  while (true) {
    work_cv_.Wait(
        &mu_, [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !queue_.empty(); });
    if (stopping_) return nullptr;
    std::shared_ptr<Job> job = queue_.front();
    queue_.pop_front();
    MutexLock job_lock(&job->mu);
    // Cancelled while queued; or a sweep that has started all its trials
    // (or skipped them).
    if (IsTerminalState(job->record.state())) continue;
    if (job->sweep && job->sweep->AllStarted()) continue;
    if (job->record.state() == v1::TrainJob::QUEUED) {
      queued_values_ -= job->data.rows.size();
      job->record.set_state(v1::TrainJob::RUNNING);
      job->record.set_started_unix_micros(NowMicros());
    }
    *trial = job->sweep ? job->sweep->OnTrialStarted(&job->record) : -1;
    RecordChanged(job.get());
    return job;
  }
}

void TrainJobManager::WorkerLoop() {
  while (true) {
    int trial = -1;
    const std::shared_ptr<Job> job = NextWork(&trial);
    if (job == nullptr) return;
    SaveRecord(job.get());
    if (job->sweep) {
      RunTrial(job.get(), trial);
    } else {
      RunJob(job.get());
    }
  }
}

void TrainJobManager::RunJob(Job* job) {
  Log(LogLevel::kInfo, "jobs", absl::StrCat("running ", job->id));
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
  TrainJobLoadOptions options;
  options.row_cache_dir = options_.row_cache_dir;
  options.max_train_values = options_.max_train_values;
  job->load_status = LoadTrainJobData(job->id, job->spec, options, &job->data, &job->classes,
                                      &job->feature_names, [job](int64_t rows, int cols) {
                                        MutexLock lock(&job->mu);
                                        job->record.set_rows(rows);
                                        job->record.set_cols(cols);
                                      });
  return job->load_status;
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
  options.on_epoch = [job, trial](const TrainProgress& p) {
    v1::TrainJobProgress progress = ToTrainJobProgress(p);
    progress.set_trial(trial);
    MutexLock lock(&job->mu);
    *job->record.mutable_progress() = std::move(progress);
    if (trial > 0 && job->sweep) {
      job->sweep->OnTrialProgress(trial - 1, p.epochs_done, p.epochs_planned, NowMicros(),
                                  &job->record);
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
    MutexLock lock(&job->mu);
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
      Log(LogLevel::kError, "jobs", absl::StrCat(job->id, ": ", warning));
      MutexLock lock(&job->mu);
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
  const AdmittedSweep& plan = *job->sweep_plan;
  v1::SweepTrial result;
  {
    MutexLock lock(&job->mu);
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
        job, plan.plans[t].config, plan.trains_head ? job->classes.classes : none, t + 1);
    status = trained.status();
    if (trained.ok()) {
      model = *std::move(trained);
      status =
          ScoreSweepTrial(plan.objective, *model, job->data.rows, job->classes.classes, &result);
    }
  }
  result.set_state(status.ok()                 ? v1::SweepTrial::SUCCEEDED
                   : absl::IsCancelled(status) ? v1::SweepTrial::CANCELLED
                                               : v1::SweepTrial::FAILED);
  result.set_error(std::string(status.message()));
  Log(status.ok() ? LogLevel::kInfo : LogLevel::kWarning, "jobs",
      absl::StrCat(job->id, " trial ", t + 1, " (", FormatSweepSettings(result), ") ",
                   v1::SweepTrial::State_Name(result.state()),
                   status.ok() ? absl::StrCat(": objective ", result.objective())
                               : absl::StrCat(": ", status.message())));
  SweepRun::Action action;
  {
    MutexLock lock(&job->mu);
    action =
        job->sweep->OnTrialEnded(t, result, std::move(model), loaded, NowMicros(), &job->record);
    RecordChanged(job);
  }
  if (action == SweepRun::Action::kFinish) {
    FinishSweep(job);
  } else {
    SaveRecord(job);
  }
}

void TrainJobManager::PlanSweepEpochs(Job* job) {
  {
    MutexLock lock(&job->mu);
    if (!job->sweep->TakeEpochPlanning()) return;
  }
  const AdmittedSweep& plan = *job->sweep_plan;
  // The data is read-only once loaded (LoadData), as TrainModel reads it.
  const std::shared_ptr<const RowFile> file = job->data.row_file;
  const int64_t rows = file != nullptr ? file->rows().rows() : job->data.rows.rows();
  const int cols = static_cast<int>(file != nullptr ? file->rows().cols() : job->data.rows.cols());
  std::vector<int> planned(plan.plans.size(), 0);
  for (size_t t = 0; t < plan.plans.size(); ++t) {
    absl::StatusOr<v1::TrainConfig> resolved = ResolveTrainConfig(plan.plans[t].config, cols);
    // A config the data's width refuses fails its trial, which says why.
    if (!resolved.ok()) continue;
    planned[t] = PlannedEpochs(*resolved, TrainedNetworks(*resolved, rows, cols), plan.trains_head);
  }
  MutexLock lock(&job->mu);
  job->sweep->OnEpochsPlanned(planned, NowMicros(), &job->record);
}

v1::TrainJob TrainJobManager::FinishSweep(Job* job) {
  SweepRun::Outcome outcome;
  {
    MutexLock lock(&job->mu);
    outcome = job->sweep->TakeOutcome(job->record);
  }
  if (job->cancel) {
    return Finish(job, v1::TrainJob::CANCELLED, "the sweep was cancelled: nothing was published",
                  0);
  }
  if (!outcome.failure.ok()) {
    return Finish(job, v1::TrainJob::FAILED, std::string(outcome.failure.message()), 0);
  }
  if (outcome.best == nullptr) {
    std::string why = "every trial failed";
    int shown = 0;
    for (const v1::SweepTrial& trial : outcome.table.trials()) {
      if (trial.state() != v1::SweepTrial::FAILED || shown++ == 3) continue;
      absl::StrAppend(&why, "; trial ", trial.trial(), " (", FormatSweepSettings(trial),
                      "): ", trial.error());
    }
    return Finish(job, v1::TrainJob::FAILED, why, 0);
  }
  // The best trial's model, with every trial's result in its summary.
  ModelInfo info = outcome.best->info();
  *info.summary.mutable_sweep() = outcome.table;
  const Model published = outcome.best->WithInfo(std::move(info));
  outcome.best.reset();
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
    {
      MutexLock job_lock(&job->mu);
      record = FinishLocked(job, state, error, version);
    }
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
          job->id, " ", v1::TrainJob::State_Name(state),
          version ? absl::StrCat(": published ", job->record.model_name(), " version ", version)
                  : "",
          error.empty() ? "" : absl::StrCat(": ", error)));
  RecordChanged(job);
  return job->record;
}

}  // namespace strata
