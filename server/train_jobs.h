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
// trial to run. Its progress counts every trial's epochs. A trial that fails is recorded and the others go on; when
// the last ends, the best trial's model is published with the results table
// in its summary, or the job FAILS when none succeeded. Cancel cancels the
// trials still queued and stops the running ones.
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
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/base/mutex.h"
#include "core/data/class_labels.h"
#include "core/data/row_file.h"
#include "core/model/model.h"
#include "core/model/model_store.h"
#include "core/nn/matrix.h"
#include "core/train/sweep.h"
#include "server/model_registry.h"
#include "strata/v1/service.pb.h"

namespace strata {

// SUCCEEDED, FAILED or CANCELLED: the job will not change again.
bool IsTerminalState(v1::TrainJob::State state);

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

  // The data of a job: rows in memory, or CSV data under data_root (a
  // file, a directory of shards or a glob). CSV data trains from a row file
  // (core/data/row_file.h), or in memory when it has a label column.
  struct JobData {
    Matrix rows;
    // The names inline or uploaded rows gave their columns
    // (DenseMatrix.column_names); empty when they gave none, and for
    // csv_path data (whose files name their own).
    std::vector<std::string> column_names;
    std::string csv_path;
    // csv_path's files, resolved under data_root by Submit.
    std::vector<std::string> csv_files;
    // CSV data without labels: its row file, mapped once the job reads it
    // (under the job's load_mu), released with the rest of the data.
    std::shared_ptr<const RowFile> row_file;
    // Values of an upload's reservation (ReserveUpload) that the job takes
    // over when Submit queues it; the uploader keeps them otherwise.
    int64_t reserved_values = 0;
  };

  static absl::StatusOr<std::unique_ptr<TrainJobManager>> Create(Options options);
  // Cancels queued and running jobs and waits for the workers.
  ~TrainJobManager();

  // Queues a job. InvalidArgument for a bad name, label, config (each field
  // checked now; those that depend on a CSV's columns when it is read) or
  // missing data, or for rows too few to calibrate on; PermissionDenied for
  // a CSV path outside data_root; FailedPrecondition when this replica does
  // not train. A refused job is not created.
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
  // a directory (its *.csv files) or a glob: each file is checked so.
  static absl::StatusOr<std::vector<std::string>> ResolveDataPath(const std::string& data_root,
                                                                  const std::string& path);

 private:
  struct Job {
    // Guarded by the manager's mu_, unchecked: ABSL_GUARDED_BY cannot name
    // a member of the enclosing class from here.
    v1::TrainJob record;
    // Its class_labels are moved into `classes`, indexed, at Submit.
    v1::TrainJobSpec spec;
    JobData data;
    // The inline or uploaded rows' class labels (spec.class_labels); empty
    // without them, and for CSV data (read with the file).
    ClassLabels classes;
    std::atomic<bool> cancel{false};
    // Set by LoadData, under load_mu, once: the rows, their class labels
    // and feature names are then read-only until the job ends.
    Mutex load_mu;
    bool loaded = false;
    absl::Status load_status;
    std::vector<std::string> feature_names;
    // Sweeps only: the trials (record.sweep holds their results), and
    // counts guarded by the manager's mu_, unchecked.
    struct Sweep {
      v1::SweepObjective objective = v1::SWEEP_OBJECTIVE_UNSPECIFIED;
      bool trains_head = false;
      std::vector<SweepTrialPlan> plans;
      int next = 0;  // the next trial to start
      int running = 0;
      int ended = 0;
      std::unique_ptr<Model> best;  // the best SUCCEEDED trial's model
      absl::Status failure;         // the data could not be read: no trial can run
      // Set by whoever takes the ended sweep to FinishSweep (the last
      // trial, or a Cancel with none running): it is finished once.
      bool finishing = false;
      // Each trial's epochs, done and planned: the job's progress counts
      // their sums, so that it does not start again with every trial. A
      // trial's plan comes from its config once the data is read
      // (PlanSweepEpochs), then from its trainer's reports; a trial that
      // ended plans what it ran, one skipped nothing.
      std::vector<int> epochs_done;
      std::vector<int> epochs_planned;
      bool epochs_planned_from_configs = false;
    };
    std::unique_ptr<Sweep> sweep;
    // Each change of `record` worth keeping bumps record_seq (under mu_);
    // SaveRecord writes the newest and skips older snapshots (under
    // save_mu_), so the disk is written outside mu_ and ends at the newest.
    int64_t record_seq = 0;  // guarded by the manager's mu_
    int64_t saved_seq = 0;   // guarded by the manager's save_mu_
    bool forgotten = false;  // guarded by save_mu_: record file removed
  };

  explicit TrainJobManager(Options options) : options_(std::move(options)) {}
  void WorkerLoop();
  void RunJob(Job* job);
  // Trains and publishes; returns the new version.
  absl::StatusOr<int64_t> TrainAndPublish(Job* job);
  // Reads the job's CSV (if any) and indexes its labels, once per job;
  // later calls return the first call's status.
  absl::Status LoadData(Job* job) ABSL_LOCKS_EXCLUDED(mu_);
  // Trains `config` on the job's loaded data; `trial` (1-based, 0 for none)
  // labels its progress.
  absl::StatusOr<std::unique_ptr<Model>> TrainModel(Job* job, const v1::TrainConfig& config,
                                                    const std::vector<int>& classes, int trial)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Publishes the model as the next version and points the spec's labels.
  absl::StatusOr<int64_t> Publish(Job* job, const Model& model) ABSL_LOCKS_EXCLUDED(mu_);
  // Runs trial `t` (0-based) of a sweep, and ends the sweep after its last.
  void RunTrial(Job* job, int t) ABSL_LOCKS_EXCLUDED(mu_);
  // Plans every trial's epochs from its config and the data's shape, once
  // the data is read (the first trial to get here does).
  void PlanSweepEpochs(Job* job) ABSL_LOCKS_EXCLUDED(mu_);
  // Sets a sweep's progress to the sums of its trials' epochs, and its
  // elapsed time and ETA to the job's since its first trial started.
  // REQUIRES: mu_ held (the Job's record and counts are guarded by it,
  // unchecked; static, so that the trainer's progress callback may call it
  // without the analysis having to follow a lambda's capture).
  static void UpdateSweepProgress(Job* job);
  // Marks the trials not yet started CANCELLED (with `why`). True when the
  // caller is to end the sweep (FinishSweep): every trial has ended, and no
  // one else is ending it.
  bool SkipRemainingTrials(Job* job, const std::string& why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // After the last trial: publishes the best one, or fails or cancels.
  // Returns the job's final record.
  v1::TrainJob FinishSweep(Job* job) ABSL_LOCKS_EXCLUDED(mu_);
  // Ends the job and returns its final record.
  v1::TrainJob Finish(Job* job, v1::TrainJob::State state, const std::string& error,
                      int64_t version);
  v1::TrainJob FinishLocked(Job* job, v1::TrainJob::State state, const std::string& error,
                            int64_t version) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // ResourceExhausted when a job on the CSV `files` cannot fit in
  // max_job_memory_bytes whatever its width: the largest file's text (read
  // whole) and the config's share as for one column (`mapped`: from a row
  // file).
  absl::Status CheckCsvMemory(const v1::TrainConfig& resolved,
                              const std::vector<std::string>& files, bool mapped) const;
  // Drops the oldest finished jobs beyond max_finished_jobs from memory and
  // returns them, for RemoveRecords once mu_ is released.
  std::vector<std::shared_ptr<Job>> ForgetOldJobs() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveRecords(const std::vector<std::shared_ptr<Job>>& forgotten)
      ABSL_LOCKS_EXCLUDED(mu_, save_mu_);
  // Loads the records of earlier processes (Create).
  absl::Status LoadRecords() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Marks the job's record changed; SaveRecord then writes it.
  // Not static: the analysis needs `this` to know whose mu_ it names.
  void RecordChanged(Job* job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { ++job->record_seq; }
  // Writes the job's newest record to records_dir, outside mu_ so that Get,
  // List and Watch never wait on the disk (a failure is logged: the job goes
  // on).
  void SaveRecord(Job* job) const ABSL_LOCKS_EXCLUDED(mu_, save_mu_);
  void WriteRecord(const v1::TrainJob& record) const;
  std::string RecordPath(const std::string& id) const;

  // Constant after construction.
  const Options options_;

  mutable Mutex mu_;
  // Serialises record writes; taken after mu_ is released, never with it.
  mutable Mutex save_mu_ ABSL_ACQUIRED_AFTER(mu_);
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
