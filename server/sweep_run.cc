#include "server/sweep_run.h"

#include <algorithm>
#include <climits>
#include <utility>

#include "core/train/sweep.h"

namespace strata {
namespace {

// The sum of epoch counts, at most INT_MAX.
int SumEpochs(const std::vector<int>& counts) {
  int64_t sum = 0;
  for (int n : counts) sum += n;
  return static_cast<int>(std::min<int64_t>(sum, INT_MAX));
}

}  // namespace

SweepRun::SweepRun(const AdmittedSweep& plan)
    : objective_(plan.objective),
      total_(static_cast<int>(plan.plans.size())),
      epochs_done_(plan.plans.size(), 0),
      epochs_planned_(plan.plans.size(), 0) {
  initial_table_.set_objective(plan.objective);
  for (size_t t = 0; t < plan.plans.size(); ++t) {
    v1::SweepTrial& trial = *initial_table_.add_trials();
    trial.set_trial(static_cast<int32_t>(t) + 1);
    trial.mutable_settings()->Add(plan.plans[t].settings.begin(), plan.plans[t].settings.end());
    trial.set_state(v1::SweepTrial::QUEUED);
  }
}

int SweepRun::OnTrialStarted(v1::TrainJob* record) {
  const int trial = next_++;
  ++running_;
  record->mutable_sweep()->mutable_trials(trial)->set_state(v1::SweepTrial::RUNNING);
  return trial;
}

void SweepRun::OnTrialProgress(int t, int epochs_done, int epochs_planned, int64_t now_micros,
                               v1::TrainJob* record) {
  // The trial's own counts; the job's are every trial's.
  epochs_done_[t] = epochs_done;
  epochs_planned_[t] = epochs_planned;
  UpdateProgress(now_micros, record);
}

bool SweepRun::TakeEpochPlanning() {
  if (epochs_planned_from_configs_) return false;
  epochs_planned_from_configs_ = true;
  return true;
}

void SweepRun::OnEpochsPlanned(const std::vector<int>& planned, int64_t now_micros,
                               v1::TrainJob* record) {
  for (size_t t = 0; t < planned.size(); ++t) {
    // A trial whose trainer has reported keeps its own count; one that
    // ended (or was skipped), what it ran.
    const v1::SweepTrial::State state = record->sweep().trials(static_cast<int>(t)).state();
    const bool pending = state == v1::SweepTrial::QUEUED || state == v1::SweepTrial::RUNNING;
    if (pending && epochs_done_[t] == 0) epochs_planned_[t] = planned[t];
  }
  UpdateProgress(now_micros, record);
}

SweepRun::Action SweepRun::OnTrialEnded(int t, const v1::SweepTrial& result,
                                        std::unique_ptr<Model> model, const absl::Status& loaded,
                                        int64_t now_micros, v1::TrainJob* record) {
  v1::SweepSummary& table = *record->mutable_sweep();
  *table.mutable_trials(t) = result;
  --running_;
  ++ended_;
  // It ran what it ran: the plan keeps none of its unspent epochs.
  epochs_planned_[t] = epochs_done_[t];
  UpdateProgress(now_micros, record);
  if (result.state() == v1::SweepTrial::SUCCEEDED &&
      (best_ == nullptr || SweepBetter(objective_, result.objective(),
                                       table.trials(table.best_trial() - 1).objective()))) {
    best_ = std::move(model);
    table.set_best_trial(t + 1);
  }
  if (!loaded.ok() && failure_.ok()) {
    // The data cannot be read: no other trial can run.
    failure_ = loaded;
    if (OnCancel("not run: the data could not be read", now_micros, record) == Action::kFinish) {
      return Action::kFinish;
    }
  }
  return FinishIf(ended_ == total_);
}

SweepRun::Action SweepRun::OnCancel(const std::string& why, int64_t now_micros,
                                    v1::TrainJob* record) {
  SkipRemaining(why, now_micros, record);
  return FinishIf(running_ == 0);
}

SweepRun::Outcome SweepRun::TakeOutcome(const v1::TrainJob& record) {
  Outcome outcome;
  outcome.best = std::move(best_);
  outcome.table = record.sweep();
  outcome.failure = failure_;
  return outcome;
}

void SweepRun::UpdateProgress(int64_t now_micros, v1::TrainJob* record) const {
  v1::TrainJobProgress& progress = *record->mutable_progress();
  const int done = SumEpochs(epochs_done_);
  const int planned = SumEpochs(epochs_planned_);
  progress.set_epochs_done(done);
  progress.set_epochs_planned(planned);
  // Trials may run at once: the pace is the job's, not a trial's.
  if (done > 0 && record->started_unix_micros() > 0) {
    const double elapsed = static_cast<double>(now_micros - record->started_unix_micros()) / 1e6;
    progress.set_elapsed_seconds(elapsed);
    progress.set_eta_seconds(elapsed / done * std::max(0, planned - done));
  }
}

void SweepRun::SkipRemaining(const std::string& why, int64_t now_micros, v1::TrainJob* record) {
  for (; next_ < total_; ++next_, ++ended_) {
    v1::SweepTrial& trial = *record->mutable_sweep()->mutable_trials(next_);
    trial.set_state(v1::SweepTrial::CANCELLED);
    trial.set_error(why);
    epochs_planned_[next_] = 0;
  }
  UpdateProgress(now_micros, record);
}

SweepRun::Action SweepRun::FinishIf(bool done) {
  const bool finish = done && !finishing_;
  finishing_ |= finish;
  return finish ? Action::kFinish : Action::kSaveRecord;
}

}  // namespace strata
