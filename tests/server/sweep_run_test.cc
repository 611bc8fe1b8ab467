// SweepRun (server/sweep_run.h) driven by events as the job manager drives
// it, without threads, a trainer or a store.
#include "server/sweep_run.h"

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/test_models.h"

namespace strata {
namespace {

using Action = SweepRun::Action;

constexpr int64_t kSecond = 1000000;

AdmittedSweep Plan(int trials, v1::SweepObjective objective = v1::VALIDATION_LOSS) {
  AdmittedSweep plan;
  plan.objective = objective;
  for (int t = 0; t < trials; ++t) {
    SweepTrialPlan trial;
    v1::SweepSetting setting;
    setting.set_field("weight_decay");
    setting.set_value(std::to_string(t));
    trial.settings = {setting};
    plan.plans.push_back(trial);
  }
  return plan;
}

// A job's record as Submit leaves it, started at 10 s.
v1::TrainJob Record(const SweepRun& sweep) {
  v1::TrainJob record;
  *record.mutable_sweep() = sweep.initial_table();
  record.set_state(v1::TrainJob::RUNNING);
  record.set_started_unix_micros(10 * kSecond);
  return record;
}

v1::SweepTrial Ended(const v1::TrainJob& record, int t, v1::SweepTrial::State state,
                     double objective = 0) {
  v1::SweepTrial result = record.sweep().trials(t);
  result.set_state(state);
  result.set_objective(objective);
  if (state != v1::SweepTrial::SUCCEEDED) result.set_error("why");
  return result;
}

TEST(SweepRunTest, TrialsStartInOrderAndTheLastToEndFinishesOnceWithTheBest) {
  SweepRun sweep(Plan(3));
  v1::TrainJob record = Record(sweep);
  EXPECT_EQ(record.sweep().trials_size(), 3);
  EXPECT_EQ(record.sweep().trials(2).settings(0).value(), "2");
  EXPECT_EQ(record.sweep().trials(2).trial(), 3);
  EXPECT_EQ(sweep.OnTrialStarted(&record), 0);
  EXPECT_EQ(sweep.OnTrialStarted(&record), 1);
  EXPECT_EQ(record.sweep().trials(1).state(), v1::SweepTrial::RUNNING);
  EXPECT_FALSE(sweep.AllStarted());
  EXPECT_EQ(sweep.OnTrialStarted(&record), 2);
  EXPECT_TRUE(sweep.AllStarted());
  EXPECT_EQ(sweep.running(), 3);

  std::unique_ptr<Model> worse = testing::SmallModel(6, 1, 1);
  std::unique_ptr<Model> better = testing::SmallModel(6, 2, 1);
  const Model* better_seen = better.get();
  EXPECT_EQ(sweep.OnTrialEnded(1, Ended(record, 1, v1::SweepTrial::SUCCEEDED, 0.5),
                               std::move(worse), absl::OkStatus(), 11 * kSecond, &record),
            Action::kSaveRecord);
  EXPECT_EQ(record.sweep().best_trial(), 2);
  EXPECT_EQ(sweep.OnTrialEnded(0, Ended(record, 0, v1::SweepTrial::FAILED), nullptr,
                               absl::OkStatus(), 12 * kSecond, &record),
            Action::kSaveRecord);
  // A lower validation loss is better.
  EXPECT_EQ(sweep.OnTrialEnded(2, Ended(record, 2, v1::SweepTrial::SUCCEEDED, 0.25),
                               std::move(better), absl::OkStatus(), 13 * kSecond, &record),
            Action::kFinish);
  EXPECT_EQ(record.sweep().best_trial(), 3);
  EXPECT_EQ(sweep.ended(), 3);
  // Finished once: a cancel now finishes nothing.
  EXPECT_EQ(sweep.OnCancel("late", 14 * kSecond, &record), Action::kSaveRecord);
  SweepRun::Outcome outcome = sweep.TakeOutcome(record);
  EXPECT_EQ(outcome.best.get(), better_seen);
  EXPECT_TRUE(outcome.failure.ok());
  EXPECT_EQ(outcome.table.trials(0).state(), v1::SweepTrial::FAILED);
}

TEST(SweepRunTest, CancelSkipsTrialsNotStartedAndTheLastRunningOneFinishes) {
  SweepRun sweep(Plan(3));
  v1::TrainJob record = Record(sweep);
  EXPECT_EQ(sweep.OnTrialStarted(&record), 0);
  // A trial is running: it, not the cancel, finishes the sweep.
  EXPECT_EQ(sweep.OnCancel("the sweep was cancelled", 11 * kSecond, &record), Action::kSaveRecord);
  EXPECT_TRUE(sweep.AllStarted());
  EXPECT_EQ(sweep.ended(), 2);
  for (int t : {1, 2}) {
    EXPECT_EQ(record.sweep().trials(t).state(), v1::SweepTrial::CANCELLED);
    EXPECT_EQ(record.sweep().trials(t).error(), "the sweep was cancelled");
  }
  EXPECT_EQ(sweep.OnTrialEnded(0, Ended(record, 0, v1::SweepTrial::CANCELLED), nullptr,
                               absl::OkStatus(), 12 * kSecond, &record),
            Action::kFinish);
  EXPECT_EQ(sweep.TakeOutcome(record).best, nullptr);
}

TEST(SweepRunTest, ACancelWithNoTrialRunningFinishesAtOnce) {
  SweepRun sweep(Plan(2));
  v1::TrainJob record = Record(sweep);
  EXPECT_EQ(sweep.OnCancel("the server stopped", 11 * kSecond, &record), Action::kFinish);
  EXPECT_EQ(sweep.OnCancel("the server stopped", 12 * kSecond, &record), Action::kSaveRecord);
}

TEST(SweepRunTest, UnreadableDataEndsEveryTrialNotStartedAndIsTheFailure) {
  SweepRun sweep(Plan(4));
  v1::TrainJob record = Record(sweep);
  EXPECT_EQ(sweep.OnTrialStarted(&record), 0);
  EXPECT_EQ(sweep.OnTrialStarted(&record), 1);
  const absl::Status unreadable = absl::InvalidArgumentError("line 3: not a number");
  EXPECT_EQ(sweep.OnTrialEnded(0, Ended(record, 0, v1::SweepTrial::FAILED), nullptr, unreadable,
                               11 * kSecond, &record),
            Action::kSaveRecord);
  EXPECT_EQ(record.sweep().trials(3).error(), "not run: the data could not be read");
  EXPECT_EQ(sweep.OnTrialEnded(1, Ended(record, 1, v1::SweepTrial::FAILED), nullptr, unreadable,
                               12 * kSecond, &record),
            Action::kFinish);
  EXPECT_EQ(sweep.TakeOutcome(record).failure, unreadable);
}

TEST(SweepRunTest, ProgressCountsEveryTrialsEpochsAtTheJobsPace) {
  SweepRun sweep(Plan(2));
  v1::TrainJob record = Record(sweep);
  EXPECT_EQ(sweep.OnTrialStarted(&record), 0);
  ASSERT_TRUE(sweep.TakeEpochPlanning());
  EXPECT_FALSE(sweep.TakeEpochPlanning()) << "planned once";
  sweep.OnEpochsPlanned({10, 30}, 10 * kSecond, &record);
  EXPECT_EQ(record.progress().epochs_planned(), 40);
  EXPECT_EQ(record.progress().epochs_done(), 0);
  // Trial 1's trainer reports its own plan; trial 2 keeps its config's.
  sweep.OnTrialProgress(0, 5, 8, 12 * kSecond, &record);
  EXPECT_EQ(record.progress().epochs_done(), 5);
  EXPECT_EQ(record.progress().epochs_planned(), 38);
  EXPECT_DOUBLE_EQ(record.progress().elapsed_seconds(), 2.0);
  EXPECT_DOUBLE_EQ(record.progress().eta_seconds(), 2.0 / 5 * 33);
  // A trial that ended plans what it ran.
  sweep.OnTrialEnded(0, Ended(record, 0, v1::SweepTrial::FAILED), nullptr, absl::OkStatus(),
                     13 * kSecond, &record);
  EXPECT_EQ(record.progress().epochs_planned(), 35);
}

}  // namespace
}  // namespace strata
