// TrainJobManager: runs TrainJobs on a bounded pool and publishes their models.
//
// A job trains with the core Trainer on its own worker thread, reports each
// epoch, and on success publishes the model as the next version of its name
// (its anomaly threshold already calibrated by the trainer), points the
// requested labels at it and refreshes the registry, so it is served at
// once. Bad data or config ends the job FAILED with the reason; nothing is
// published. Cancel stops a queued job at once and a running one within a
// mini-batch.
//
// A sweep job (spec.sweep) plans its trials at Submit and queues each as a
// unit of work, so that its trials share the workers, and
// max_concurrent_jobs, with other jobs. Its data is read once, by the first
// trial to run. Its progress counts every trial's epochs. A trial that fails
// is recorded and the others go on; when the last ends, the best trial's
// model is published with the results table in its summary, or the job FAILS
// when none succeeded. Cancel cancels the trials still queued and stops the
// running ones (the rules: server/sweep_run.h).
//
// The parts, each in its own file: admission (server/train_admission.h),
// a job's data and its loading (server/train_job_data.h), job records on
// disk (server/train_job_records.h) and the sweep (server/sweep_run.h); this
// file holds the queue, the workers and the jobs' life.
//
// Thread-safe.
#ifndef STRATA_SERVER_TRAIN_JOBS_H_
#define STRATA_SERVER_TRAIN_JOBS_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/base/mutex.h"
#include "core/data/class_labels.h"
#include "core/model/model.h"
#include "core/model/model_store.h"
#include "server/model_registry.h"
#include "server/sweep_run.h"
#include "server/train_admission.h"
#include "server/train_job_data.h"
#include "server/train_job_records.h"
#include "strata/v1/service.pb.h"

namespace strata {

class TrainJobManager {
 public:
  struct Options {
    // Where models are published, and who serves them. Required; must
    // outlive the manager.
    ModelStore* store = nullptr;
    ModelRegistry* registry = nullptr;
    // Jobs training at once; more wait in a queue. 0: this replica does not
    // train (serving replicas behind a designated trainer); Submit refuses
    // with FailedPrecondition. Default 1.
    int max_concurrent_jobs = 1;
    // Directory that server-side CSV paths are confined to. Default empty:
    // CSV paths are refused.
    std::string data_root;
    // Where the row files of CSV data go (core/data/row_file.h), created if
    // missing; needs data_root. Default empty: next to the first shard.
    std::string row_cache_dir;
    // Largest training set, in floats (rows x columns), held in memory:
    // inline and uploaded rows (refused before they become a job), and CSV
    // data with a label column. Other CSV data trains from a row file,
    // limited by disk. Default 2^28.
    int64_t max_train_values = int64_t{1} << 28;
    // A job's estimated peak memory (core/train/train_memory.h) above this many
    // bytes is refused with ResourceExhausted: at Submit for rows in memory
    // (and for a CSV's config and file size), when it is read for the rest.
    // Default 0: no limit (strata-server sets one from the memory it has).
    int64_t max_job_memory_bytes = 0;
    // Training values (rows x columns) held by queued jobs, all together;
    // a job that would go beyond is refused with ResourceExhausted. Default
    // 2^29 (two jobs of the default --max_train_values).
    int64_t max_queued_values = int64_t{1} << 29;
    // Finished jobs remembered for Get and List. Default 256.
    int max_finished_jobs = 256;
    // Directory of job records (one <id>.pb per job, written on every state
    // change). On Create, records found there are served again; a job that
    // was queued or running when the previous process stopped reads as
    // FAILED (interrupted). Default empty: records live in memory only.
    std::string records_dir;
    // Called (without locks held) with each job that ran to an end.
    // Default: none.
    std::function<void(const v1::TrainJob&)> on_finish;
  };

  // The data of a job (server/train_job_data.h).
  using JobData = TrainJobData;

  static absl::StatusOr<std::unique_ptr<TrainJobManager>> Create(Options options);
  // Cancels queued and running jobs and waits for the workers.
  ~TrainJobManager();

  // Queues a job. InvalidArgument for a bad name, label, config (each field
  // checked now; those that depend on a CSV's columns when it is read) or
  // missing data, or for rows too few to calibrate on; PermissionDenied for
  // a CSV path outside data_root; FailedPrecondition when this replica does
  // not train (server/train_admission.h). A refused job is not created.
  absl::StatusOr<v1::TrainJob> Submit(v1::TrainJobSpec spec, JobData data);
  // Rows received but not yet queued (an upload in progress, a Submit
  // waiting for the store queue) count against max_queued_values as queued
  // jobs' rows do. ReserveUpload takes
  // `values` more (ResourceExhausted beyond the bound, naming the flag);
  // ReleaseUpload gives them back; Submit takes over JobData's.
  absl::Status ReserveUpload(int64_t values);
  void ReleaseUpload(int64_t values);
  // OK if this replica trains, else the FailedPrecondition Submit returns.
  absl::Status CheckTrains() const;
  // ResourceExhausted, naming the flag, when `values` exceed `limit`.
  static absl::Status CheckTrainValues(int64_t values, int64_t limit);
  absl::StatusOr<v1::TrainJob> Get(const std::string& id) const;
  absl::StatusOr<v1::TrainJob> Cancel(const std::string& id);
  // Newest first; all models when model_name is empty.
  std::vector<v1::TrainJob> List(const std::string& model_name) const;

  // Resolves a CSV path against data_root, refusing absolute paths and any
  // path (through "..") or symlink that leads outside it. The path may name
  // a directory (its *.csv files) or a glob: each file is checked so
  // (ResolveCsvPath, server/train_admission.h).
  static absl::StatusOr<std::vector<std::string>> ResolveDataPath(const std::string& data_root,
                                                                  const std::string& path);

 private:
  // Lock order: the manager's mu_, then a Job's mu; a Job's load_mu, then
  // its mu. A Job's save_mu is taken with no other lock held.
  struct Job {
    // Constant once Submit queues the job (or LoadRecords reads it).
    std::string id;
    v1::TrainJobSpec spec;                    // its class_labels are moved into `classes`
    std::optional<AdmittedSweep> sweep_plan;  // set for a sweep
    // Not guarded: handed over. While the job is queued, Cancel and the
    // worker that dequeues it read and clear it under mu_; then the
    // worker(s) running it own it (LoadData fills it under load_mu); Finish
    // releases it once no trial runs.
    JobData data;
    // The inline or uploaded rows' class labels (spec.class_labels); empty
    // without them, and for CSV data (read with the file).
    ClassLabels classes;
    std::atomic<bool> cancel{false};

    // LoadData reads the data once, under load_mu: the rows, their class
    // labels and feature_names are then read-only until the job ends.
    Mutex load_mu;
    bool loaded ABSL_GUARDED_BY(load_mu) = false;
    absl::Status load_status ABSL_GUARDED_BY(load_mu);
    std::vector<std::string> feature_names;

    // The job's state as Get and List see it.
    mutable Mutex mu ABSL_ACQUIRED_AFTER(load_mu);
    v1::TrainJob record ABSL_GUARDED_BY(mu);
    // Sweeps only: the trials as they run (record.sweep holds their
    // results). The pointer is constant once Submit queues the job.
    std::unique_ptr<SweepRun> sweep ABSL_PT_GUARDED_BY(mu);
    // Each change of `record` worth keeping bumps record_seq; SaveRecord
    // writes the newest and skips older snapshots (under save_mu), so the
    // disk is written outside mu and ends at the newest.
    int64_t record_seq ABSL_GUARDED_BY(mu) = 0;

    Mutex save_mu;
    int64_t saved_seq ABSL_GUARDED_BY(save_mu) = 0;
    bool forgotten ABSL_GUARDED_BY(save_mu) = false;  // its record file removed
  };

  explicit TrainJobManager(Options options)
      : options_(std::move(options)), records_(options_.records_dir) {}
  // The job that Submit queues, with its record (QUEUED, not yet numbered).
  static std::shared_ptr<Job> NewJob(AdmittedTrainJob admitted);
  // Takes the next unit of work off the queue (a job, or a sweep's trial:
  // `*trial` >= 0), marking it RUNNING; null when the manager stops.
  std::shared_ptr<Job> NextWork(int* trial) ABSL_LOCKS_EXCLUDED(mu_);
  void WorkerLoop() ABSL_LOCKS_EXCLUDED(mu_);
  void RunJob(Job* job) ABSL_LOCKS_EXCLUDED(mu_);
  // Trains and publishes; returns the new version.
  absl::StatusOr<int64_t> TrainAndPublish(Job* job) ABSL_LOCKS_EXCLUDED(mu_);
  // Reads the job's CSV (if any) and indexes its labels, once per job;
  // later calls return the first call's status.
  absl::Status LoadData(Job* job) ABSL_LOCKS_EXCLUDED(mu_, job->load_mu, job->mu);
  // Trains `config` on the job's loaded data; `trial` (1-based, 0 for none)
  // labels its progress.
  absl::StatusOr<std::unique_ptr<Model>> TrainModel(Job* job, const v1::TrainConfig& config,
                                                    const std::vector<int>& classes, int trial)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Publishes the model as the next version and points the spec's labels.
  absl::StatusOr<int64_t> Publish(Job* job, const Model& model) ABSL_LOCKS_EXCLUDED(mu_, job->mu);
  // Runs trial `t` (0-based) of a sweep, and ends the sweep after its last.
  void RunTrial(Job* job, int t) ABSL_LOCKS_EXCLUDED(mu_, job->mu);
  // Plans every trial's epochs from its config and the data's shape, once
  // the data is read (the first trial to get here does).
  void PlanSweepEpochs(Job* job) ABSL_LOCKS_EXCLUDED(mu_, job->mu);
  // After the last trial: publishes the best one, or fails or cancels.
  // Returns the job's final record.
  v1::TrainJob FinishSweep(Job* job) ABSL_LOCKS_EXCLUDED(mu_, job->mu);
  // Ends the job and returns its final record.
  v1::TrainJob Finish(Job* job, v1::TrainJob::State state, const std::string& error,
                      int64_t version) ABSL_LOCKS_EXCLUDED(mu_, job->mu);
  v1::TrainJob FinishLocked(Job* job, v1::TrainJob::State state, const std::string& error,
                            int64_t version) ABSL_EXCLUSIVE_LOCKS_REQUIRED(job->mu);
  // Drops the oldest finished jobs beyond max_finished_jobs from memory and
  // returns them, for RemoveRecords once mu_ is released.
  // REQUIRES: no Job's mu held.
  std::vector<std::shared_ptr<Job>> ForgetOldJobs() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveRecords(const std::vector<std::shared_ptr<Job>>& forgotten) ABSL_LOCKS_EXCLUDED(mu_);
  // Loads the records of earlier processes (Create).
  absl::Status LoadRecords() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Marks the job's record changed; SaveRecord then writes it.
  static void RecordChanged(Job* job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(job->mu) { ++job->record_seq; }
  // Writes the job's newest record to records_dir, outside mu_ so that Get,
  // List and Watch never wait on the disk (a failure is logged: the job goes
  // on).
  void SaveRecord(Job* job) const ABSL_LOCKS_EXCLUDED(mu_, job->mu, job->save_mu);

  // Constant after construction.
  const Options options_;
  const TrainJobRecords records_;

  mutable Mutex mu_;
  CondVar work_cv_;  // signalled when queue_ grows or stopping_ is set
  std::map<std::string, std::shared_ptr<Job>> jobs_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> order_ ABSL_GUARDED_BY(mu_);  // oldest first
  std::deque<std::shared_ptr<Job>> queue_ ABSL_GUARDED_BY(mu_);
  int64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int64_t queued_values_ ABSL_GUARDED_BY(mu_) = 0;     // in the rows of queue_'s jobs
  int64_t uploading_values_ ABSL_GUARDED_BY(mu_) = 0;  // reserved by uploads in progress
  // ResourceExhausted when `values` more would exceed max_queued_values;
  // `reserved` of the values held now are the caller's own (an upload's).
  absl::Status CheckQueuedValues(int64_t values, int64_t reserved, absl::string_view what) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::vector<std::thread> workers_;
};

}  // namespace strata

#endif  // STRATA_SERVER_TRAIN_JOBS_H_
