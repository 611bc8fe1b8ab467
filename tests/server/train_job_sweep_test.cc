// TrainJobManager running sweeps: trials sharing the workers, progress,
// failures, cancel and shutdown (the rules: server/sweep_run.h).
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/train_jobs.h"
#include "tests/server/train_jobs_fixture.h"

namespace strata {
namespace {

using jobs_test::Fixture;
using jobs_test::Rows;
using jobs_test::SeenTraining;
using jobs_test::Spec;
using ::testing::HasSubstr;
using testing::SweepValues;

TEST(TrainJobsTest, ASweepPublishesItsBestTrialWithTheResultsTable) {
  Fixture f("jobs_sweep", 2);
  v1::TrainJobSpec spec = Spec("m", 15);
  spec.add_labels("best");
  *spec.mutable_sweep()->add_parameters() =
      SweepValues("encoder_widths", {"[8, 1]", "[8, 2]", "[16, 8, 4]"});
  const absl::StatusOr<v1::TrainJob> queued = f.jobs->Submit(spec, Rows(400));
  ASSERT_TRUE(queued.ok()) << queued.status();
  ASSERT_EQ(queued->sweep().trials_size(), 3);
  EXPECT_EQ(queued->sweep().objective(), v1::VALIDATION_LOSS);
  EXPECT_EQ(queued->sweep().trials(2).state(), v1::SweepTrial::QUEUED);
  const v1::TrainJob j = f.WaitFor(queued->id());
  ASSERT_EQ(j.state(), v1::TrainJob::SUCCEEDED) << j.error();
  // One version, the best trial's: the lowest validation loss.
  EXPECT_EQ(*f.store->ListVersions("m"), std::vector<int64_t>{1});
  EXPECT_EQ(f.store->ReadLabels("m")->labels().at("best"), 1);
  int best = 0;
  for (const v1::SweepTrial& t : j.sweep().trials()) {
    ASSERT_EQ(t.state(), v1::SweepTrial::SUCCEEDED) << t.error();
    ASSERT_TRUE(t.has_validation_loss());
    EXPECT_EQ(t.objective(), t.validation_loss());
    EXPECT_GT(t.epochs(), 0);
    if (best == 0 || t.objective() < j.sweep().trials(best - 1).objective()) best = t.trial();
  }
  EXPECT_EQ(j.sweep().best_trial(), best);
  auto model = ReadModelFile(f.store->ModelFilePath("m", 1));
  ASSERT_TRUE(model.ok()) << model.status();
  const v1::TrainingSummary& summary = (*model)->info().summary;
  EXPECT_EQ(summary.sweep().best_trial(), best);
  ASSERT_EQ(summary.sweep().trials_size(), 3);
  EXPECT_EQ(summary.final_validation_loss(), j.sweep().trials(best - 1).validation_loss());
  const int widths[] = {1, 2, 4};
  EXPECT_EQ((*model)->autoencoder().code_dim(), widths[best - 1]);
  // The progress is a trial's epoch.
  EXPECT_GE(j.progress().trial(), 1);
  EXPECT_LE(j.progress().trial(), 3);
}

// A sweep's progress counted the running trial's epochs alone: a 6-trial
// sweep read RUNNING 15/15 after its first trial, and started again with
// each. It counts every trial's now (each trial here: 2 networks x 3
// epochs), never going back, with two trials running at once.
TEST(TrainJobsTest, ASweepsProgressCountsEveryTrialsEpochs) {
  Fixture f("jobs_sweep_progress", 2);
  v1::TrainJobSpec spec = Spec("m", 3);
  spec.mutable_config()->mutable_anomaly()->set_ensemble_size(2);
  *spec.mutable_sweep()->add_parameters() = SweepValues("weight_decay", {"0", "0.001", "0.01"});
  const absl::StatusOr<v1::TrainJob> queued = f.jobs->Submit(spec, Rows(300));
  ASSERT_TRUE(queued.ok()) << queued.status();
  int last_done = 0;
  v1::TrainJob j;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  do {
    j = *f.jobs->Get(queued->id());
    const v1::TrainJobProgress& p = j.progress();
    EXPECT_GE(p.epochs_done(), last_done) << "the count went back";
    EXPECT_LE(p.epochs_done(), p.epochs_planned());
    EXPECT_LE(p.epochs_planned(), 3 * 2 * 3);
    last_done = p.epochs_done();
    absl::SleepFor(absl::Milliseconds(1));
  } while (!IsTerminalState(j.state()) && absl::Now() < deadline);
  ASSERT_EQ(j.state(), v1::TrainJob::SUCCEEDED) << j.error();
  EXPECT_EQ(j.progress().epochs_done(), 3 * 2 * 3);
  EXPECT_EQ(j.progress().epochs_planned(), 3 * 2 * 3);
  for (const v1::SweepTrial& t : j.sweep().trials()) EXPECT_EQ(t.epochs(), 2 * 3) << t.trial();
  EXPECT_GE(j.progress().trial(), 1);
  EXPECT_EQ(j.progress().networks(), 2);
}

TEST(TrainJobsTest, ASweepGoesOnPastFailedTrialsAndFailsWhenAllFail) {
  Fixture f("jobs_sweep_fail");
  v1::TrainJobSpec spec = Spec("m", 2);
  v1::TrainConfig* c = spec.mutable_config();
  c->set_scaler(v1::IDENTITY);
  c->mutable_optimizer()->set_kind(v1::OptimizerConfig::SGD);
  *spec.mutable_sweep()->add_parameters() =
      SweepValues("optimizer.learning_rate", {"1e-6", "3e38"});
  TrainJobManager::JobData data;
  data.rows = testing::GaussianMatrix(200, 5, 1, 100.0);
  const v1::TrainJob one = f.WaitFor(f.jobs->Submit(spec, data)->id());
  ASSERT_EQ(one.state(), v1::TrainJob::SUCCEEDED) << one.error();
  EXPECT_EQ(one.sweep().trials(0).state(), v1::SweepTrial::SUCCEEDED);
  EXPECT_EQ(one.sweep().trials(1).state(), v1::SweepTrial::FAILED);
  EXPECT_THAT(one.sweep().trials(1).error(), HasSubstr("diverged"));
  EXPECT_FALSE(one.sweep().trials(1).has_objective());
  EXPECT_EQ(one.sweep().best_trial(), 1);
  EXPECT_EQ(one.version(), 1);

  spec.mutable_sweep()->mutable_parameters(0)->set_values(0, "1e38");
  const v1::TrainJob none = f.WaitFor(f.jobs->Submit(spec, data)->id());
  EXPECT_EQ(none.state(), v1::TrainJob::FAILED);
  EXPECT_THAT(none.error(),
              HasSubstr("every trial failed; trial 1 (optimizer.learning_rate=1e38)"));
  EXPECT_THAT(none.error(), HasSubstr("trial 2 (optimizer.learning_rate=3e38)"));
  EXPECT_EQ(none.sweep().best_trial(), 0);
  EXPECT_EQ(*f.store->ListVersions("m"), std::vector<int64_t>{1});
}

TEST(TrainJobsTest, CancellingASweepCancelsItsTrialsAndPublishesNothing) {
  Fixture f("jobs_sweep_cancel");
  v1::TrainJobSpec spec = Spec("m", kMaxEpochs);
  *spec.mutable_sweep()->add_parameters() = SweepValues("weight_decay", {"0", "0.001", "0.01"});
  const std::string id = f.jobs->Submit(spec, Rows(500))->id();
  // Queued behind it: runs once the sweep has let go of the worker.
  const std::string after = f.jobs->Submit(Spec("n", 1), Rows(100))->id();
  ASSERT_TRUE(SeenTraining(*f.jobs, id));
  EXPECT_EQ(f.jobs->Get(id)->sweep().trials(0).state(), v1::SweepTrial::RUNNING);
  ASSERT_TRUE(f.jobs->Cancel(id).ok());
  const v1::TrainJob j = f.WaitFor(id);
  EXPECT_EQ(j.state(), v1::TrainJob::CANCELLED) << j.error();
  for (const v1::SweepTrial& t : j.sweep().trials()) {
    EXPECT_EQ(t.state(), v1::SweepTrial::CANCELLED) << t.trial();
  }
  EXPECT_EQ(j.sweep().trials(1).error(), "the sweep was cancelled");
  EXPECT_LT(j.progress().epochs_done(), kMaxEpochs);
  EXPECT_TRUE(f.store->ListVersions("m")->empty());
  EXPECT_EQ(f.WaitFor(after).state(), v1::TrainJob::SUCCEEDED);
  // A queued sweep cancelled ends at once, its trials with it.
  Fixture g("jobs_sweep_cancel_queued");
  const std::string blocker = g.jobs->Submit(Spec("b", kMaxEpochs), Rows(500))->id();
  const std::string queued = g.jobs->Submit(spec, Rows(100))->id();
  const v1::TrainJob c = *g.jobs->Cancel(queued);
  EXPECT_EQ(c.state(), v1::TrainJob::CANCELLED);
  EXPECT_EQ(c.sweep().trials(2).state(), v1::SweepTrial::CANCELLED);
  ASSERT_TRUE(g.jobs->Cancel(blocker).ok());
}

// A server stopping mid-sweep ends it CANCELLED, every trial with it, and
// says so in the record the next process reads.
TEST(TrainJobsTest, ShutdownEndsARunningSweepAndItsQueuedTrials) {
  std::string id;
  {
    Fixture f("jobs_sweep_shutdown");
    v1::TrainJobSpec spec = Spec("m", kMaxEpochs);
    *spec.mutable_sweep()->add_parameters() = SweepValues("weight_decay", {"0", "0.001", "0.01"});
    id = f.jobs->Submit(spec, Rows(500))->id();
    ASSERT_TRUE(SeenTraining(*f.jobs, id));
    f.jobs.reset();
  }
  Fixture again("jobs_sweep_shutdown", 1, /*fresh=*/false);
  const v1::TrainJob j = *again.jobs->Get(id);
  EXPECT_EQ(j.state(), v1::TrainJob::CANCELLED) << j.error();
  ASSERT_EQ(j.sweep().trials_size(), 3);
  EXPECT_EQ(j.sweep().trials(0).state(), v1::SweepTrial::CANCELLED);
  EXPECT_EQ(j.sweep().trials(2).state(), v1::SweepTrial::CANCELLED);
  EXPECT_EQ(j.sweep().trials(2).error(), "the server stopped");
  EXPECT_TRUE(again.store->ListVersions("m")->empty());
}

TEST(TrainJobsTest, ASweepWhoseDataCannotBeReadFailsOnceAndRunsNoOtherTrial) {
  Fixture f("jobs_sweep_bad_csv", 2);
  std::ofstream(f.root + "/data/bad.csv") << "a,b,c\n1,2,3\n4,x,6\n";
  v1::TrainJobSpec spec = Spec("m", 1);
  *spec.mutable_sweep()->add_parameters() = SweepValues("weight_decay", {"0", "0.1", "0.2", "0.3"});
  TrainJobManager::JobData csv;
  csv.csv_path = "bad.csv";
  const v1::TrainJob j = f.WaitFor(f.jobs->Submit(spec, csv)->id());
  EXPECT_EQ(j.state(), v1::TrainJob::FAILED);
  EXPECT_THAT(j.error(), HasSubstr("line 3"));
  int failed = 0, skipped = 0;
  for (const v1::SweepTrial& t : j.sweep().trials()) {
    failed += t.state() == v1::SweepTrial::FAILED;
    skipped += t.state() == v1::SweepTrial::CANCELLED;
    if (t.state() == v1::SweepTrial::CANCELLED) {
      EXPECT_EQ(t.error(), "not run: the data could not be read");
    }
  }
  // The trials that had started when the read failed (one per worker at
  // most) fail with it; the others never run.
  EXPECT_GE(failed, 1);
  EXPECT_LE(failed, 2);
  EXPECT_EQ(failed + skipped, 4);
  // With one worker the failing trial is the only one ever started, and
  // ends the sweep itself.
  Fixture one("jobs_sweep_bad_csv_one");
  std::ofstream(one.root + "/data/bad.csv") << "a,b,c\n1,2,3\n4,x,6\n";
  const v1::TrainJob k = one.WaitFor(one.jobs->Submit(spec, csv)->id());
  EXPECT_EQ(k.state(), v1::TrainJob::FAILED);
  EXPECT_EQ(k.sweep().trials(0).state(), v1::SweepTrial::FAILED);
  EXPECT_EQ(k.sweep().trials(3).state(), v1::SweepTrial::CANCELLED);
}

TEST(TrainJobsTest, SweepsAreCheckedAtSubmit) {
  Fixture f("jobs_sweep_validate");
  v1::TrainJobSpec spec = Spec("m", 1);
  *spec.mutable_sweep()->add_parameters() = SweepValues("optimizer.learning_rate", {"0.1", "-2"});
  absl::Status s = f.jobs->Submit(spec, Rows(60)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("spec.sweep trial 2 (optimizer.learning_rate=-2)"));
  // Each trial's own code width sets its fewest rows.
  spec.mutable_sweep()->mutable_parameters(0)->set_field("encoder_widths");
  spec.mutable_sweep()->mutable_parameters(0)->set_values(0, "[8, 2]");
  spec.mutable_sweep()->mutable_parameters(0)->set_values(1, "[40, 30]");
  s = f.jobs->Submit(spec, Rows(55)).status();
  EXPECT_THAT(s.message(), HasSubstr("spec.sweep trial 2: "));
  EXPECT_THAT(s.message(), HasSubstr("at least 60"));
  spec.mutable_sweep()->set_objective(v1::HEAD_ACCURACY);
  EXPECT_THAT(f.jobs->Submit(spec, Rows(60)).status().message(),
              HasSubstr("spec.sweep.objective HEAD_ACCURACY needs class labels"));
  EXPECT_TRUE(f.jobs->List("").empty());
}

}  // namespace
}  // namespace strata
