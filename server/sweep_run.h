// SweepRun: a sweep job's trials as they run, as a state driven by events,
// without threads. The job manager (server/train_jobs.h) forwards each event
// (a trial started, a trial's trainer reported, the data's shape is known, a
// trial ended, the sweep was cancelled) and does what the returned Action
// says, after releasing its lock: save the job's record, or finish the sweep
// (publish the best trial's model, or fail or cancel the job).
//
// The rules:
//  - trials start in order, each once; a cancelled sweep starts no more and
//    marks those not started CANCELLED;
//  - a trial that fails is recorded and the others go on; the first trial
//    to find the data unreadable ends every trial not started (no other can
//    run), and the sweep then FAILS with the data's error;
//  - the best SUCCEEDED trial (SweepBetter on its objective) is kept;
//  - the sweep is finished exactly once: by the last trial to end, or by
//    a cancel when none is running;
//  - the job's progress counts every trial's epochs, done and planned, so it
//    does not start again with every trial; its pace is the job's since it
//    started (trials may run at once).
//
//   SweepRun sweep(plan);                       // at Submit
//   *record.mutable_sweep() = sweep.InitialTable();
//   int t = sweep.OnTrialStarted(&record);      // a worker takes a trial
//   if (sweep.OnTrialEnded(t, result, std::move(model), loaded, now, &record) ==
//       SweepRun::Action::kFinish) { ... TakeOutcome() ... }
//
// Every event updates the job's record (its sweep table and progress),
// passed in. Not thread-safe: the manager calls it under the job's lock.
#ifndef STRATA_SERVER_SWEEP_RUN_H_
#define STRATA_SERVER_SWEEP_RUN_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "core/model/model.h"
#include "server/train_admission.h"
#include "strata/v1/service.pb.h"

namespace strata {

class SweepRun {
 public:
  // What the caller does next, once its lock is released.
  enum class Action {
    kSaveRecord,  // the record changed: save it
    kFinish,      // every trial has ended: finish the sweep (TakeOutcome)
  };

  // The objective and trials of `plan`. Required: at least one trial.
  explicit SweepRun(const AdmittedSweep& plan);

  // The results table a job's record starts with: every trial QUEUED, with
  // its settings.
  const v1::SweepSummary& initial_table() const { return initial_table_; }
  int trials() const { return total_; }
  // True once every trial has started (or was skipped): a worker that takes
  // the sweep's next unit of work has none to run.
  bool AllStarted() const { return next_ >= total_; }

  // A worker takes the next trial. Returns its index (0-based), marked
  // RUNNING in the record. REQUIRES: !AllStarted().
  int OnTrialStarted(v1::TrainJob* record);
  // Trial `t`'s trainer reported its own epochs, done and planned.
  void OnTrialProgress(int t, int epochs_done, int epochs_planned, int64_t now_micros,
                       v1::TrainJob* record);
  // True once, for the first trial to have read the data: it plans every
  // trial's epochs (from its config and the data's shape) and reports them
  // with OnEpochsPlanned.
  bool TakeEpochPlanning();
  // Every trial's planned epochs (0: its config fails on this data). A trial
  // whose trainer has reported keeps its own count; one that ended (or was
  // skipped) what it ran.
  void OnEpochsPlanned(const std::vector<int>& planned, int64_t now_micros, v1::TrainJob* record);
  // Trial `t` ended with `result` (its state, error and objective set), and
  // on success `model`. `loaded`: the status of reading the data (not OK: no
  // trial can run, so those not started end too).
  Action OnTrialEnded(int t, const v1::SweepTrial& result, std::unique_ptr<Model> model,
                      const absl::Status& loaded, int64_t now_micros, v1::TrainJob* record);
  // The sweep was cancelled (or the server stops): the trials not started
  // end CANCELLED with `why`. kFinish when no trial is running (and no one
  // else finishes the sweep); running trials stop, and the last to end
  // finishes it.
  Action OnCancel(const std::string& why, int64_t now_micros, v1::TrainJob* record);

  // What the finished sweep publishes or fails with. Taken once, after
  // kFinish.
  struct Outcome {
    std::unique_ptr<Model> best;  // null when no trial succeeded
    v1::SweepSummary table;       // every trial's result
    absl::Status failure;         // the data could not be read
  };
  Outcome TakeOutcome(const v1::TrainJob& record);

  // For tests: trials running now, and ended (or skipped).
  int running() const { return running_; }
  int ended() const { return ended_; }

 private:
  // Sets the job's progress to the sums of the trials' epochs, and its
  // elapsed time and ETA to the job's since it started.
  void UpdateProgress(int64_t now_micros, v1::TrainJob* record) const;
  // Marks the trials not started CANCELLED with `why`.
  void SkipRemaining(const std::string& why, int64_t now_micros, v1::TrainJob* record);
  // kFinish, once, when `done` and no one has taken the sweep to finish.
  Action FinishIf(bool done);

  const v1::SweepObjective objective_;
  const int total_;
  v1::SweepSummary initial_table_;
  int next_ = 0;  // the next trial to start
  int running_ = 0;
  int ended_ = 0;
  std::unique_ptr<Model> best_;  // the best SUCCEEDED trial's model
  absl::Status failure_;         // the data could not be read: no trial can run
  // Set by whoever takes the ended sweep to finish (the last trial, or a
  // cancel with none running): it is finished once.
  bool finishing_ = false;
  // Each trial's epochs, done and planned. A trial's plan comes from its
  // config once the data is read (OnEpochsPlanned), then from its trainer's
  // reports; a trial that ended plans what it ran, one skipped nothing.
  std::vector<int> epochs_done_;
  std::vector<int> epochs_planned_;
  bool epochs_planned_from_configs_ = false;
};

}  // namespace strata

#endif  // STRATA_SERVER_SWEEP_RUN_H_
