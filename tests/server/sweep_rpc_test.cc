// Hyperparameter sweeps over gRPC (a TrainJobSpec with a sweep): trials run
// side by side, the best one is published with the table in its summary,
// failed trials leave the others to finish, bad sweeps are refused at
// submit, and cancel ends every trial.
#include <algorithm>
#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/labelled_blobs.h"
#include "tests/testing/server_requests.h"
#include "tests/testing/sweep_spec.h"
#include "tests/testing/test_server.h"

namespace strata {
namespace {

using testing::CodeOf;
using testing::Dense;
using ::testing::HasSubstr;
using testing::LabelledBlobs;
using testing::LabelledRows;
using testing::Spec;
using testing::SupervisedSpec;
using testing::SweepValues;
using testing::TestServer;
using testing::WaitForJob;

// A sweep over gRPC: two trials run at once (two workers); WatchTrainJob
// shows which trial each epoch belongs to and the results so far; only the
// best trial is published, with the table in its summary. With labels the
// objective is the head's validation accuracy; the linear probe scores the
// codes of the labelled rows and trains no head.
TEST(StrataServerTest, SweepPublishesTheBestTrialAndWatchShowsTheTrials) {
  TestServer t("server_sweep", [](StrataServer::Options* o) { o->max_concurrent_jobs = 2; });
  const LabelledRows data = LabelledBlobs();
  v1::TrainJobSpec spec = SupervisedSpec(data);
  // Trials long enough (about 0.3 s each) that the watch's 50 ms polls see
  // them running even on a loaded machine: with 30 epochs the whole sweep
  // took 0.2 s, and under ctest -j2 a watch once saw no trial RUNNING.
  spec.mutable_config()->set_finetune_epochs(200);
  *spec.mutable_sweep()->add_parameters() = SweepValues("encoder_widths", {"[4, 1]", "[4, 3]"});
  *spec.mutable_sweep()->add_parameters() =
      SweepValues("supervised.mode", {"\"FROZEN_ENCODER\"", "\"FULL\""});
  auto job = t.client->UploadTrainJob(spec, data.rows.data(), data.rows.rows(), 6);
  ASSERT_TRUE(job.ok()) << job.status();
  std::set<int> trials_seen;
  int most_running = 0;
  auto done = t.client->WatchTrainJob(job->id(), [&](const v1::TrainJob& j) {
    if (j.progress().epochs_done() > 0) trials_seen.insert(j.progress().trial());
    int running = 0;
    for (const v1::SweepTrial& trial : j.sweep().trials()) {
      running += trial.state() == v1::SweepTrial::RUNNING;
    }
    most_running = std::max(most_running, running);
  });
  ASSERT_TRUE(done.ok()) << done.status();
  ASSERT_EQ(done->state(), v1::TrainJob::SUCCEEDED) << done->error();
  EXPECT_FALSE(trials_seen.empty());
  EXPECT_EQ(trials_seen.count(0), 0u);
  EXPECT_GE(most_running, 1);
  EXPECT_LE(most_running, 2);
  const v1::SweepSummary& table = done->sweep();
  EXPECT_EQ(table.objective(), v1::HEAD_ACCURACY);
  ASSERT_EQ(table.trials_size(), 4);
  double best = -1;
  for (const v1::SweepTrial& trial : table.trials()) {
    ASSERT_EQ(trial.state(), v1::SweepTrial::SUCCEEDED) << trial.error();
    EXPECT_EQ(trial.objective(), trial.head_accuracy());
    best = std::max(best, trial.objective());
  }
  EXPECT_EQ(table.trials(table.best_trial() - 1).objective(), best);
  EXPECT_GE(best, 0.9);
  auto info = t.client->GetModel(Spec("classes"));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->model().version(), 1);
  EXPECT_EQ(info->summary().sweep().best_trial(), table.best_trial());
  EXPECT_EQ(info->summary().sweep().trials_size(), 4);
  EXPECT_EQ(info->summary().classifier().validation_accuracy(), best);
  v1::PredictRequest request;
  *request.mutable_model() = Spec("classes");
  *request.mutable_rows() = Dense(data.rows.topRows(30));
  EXPECT_TRUE(t.client->Predict(request).ok());

  spec.mutable_sweep()->mutable_parameters()->RemoveLast();
  spec.mutable_sweep()->set_objective(v1::LINEAR_PROBE_ACCURACY);
  auto probed = t.client->UploadTrainJob(spec, data.rows.data(), data.rows.rows(), 6);
  ASSERT_TRUE(probed.ok()) << probed.status();
  const v1::TrainJob p = WaitForJob(t, probed->id());
  ASSERT_EQ(p.state(), v1::TrainJob::SUCCEEDED) << p.error();
  for (const v1::SweepTrial& trial : p.sweep().trials()) {
    EXPECT_EQ(trial.objective(), trial.probe_accuracy());
    EXPECT_FALSE(trial.has_head_accuracy());
  }
  EXPECT_GE(p.sweep().trials(p.sweep().best_trial() - 1).probe_accuracy(), 0.9);
  auto probed_info = t.client->GetModel(Spec("classes", 2));
  ASSERT_TRUE(probed_info.ok()) << probed_info.status();
  EXPECT_TRUE(probed_info->class_names().empty());
}

// A trial that fails leaves the others to finish; bad sweeps and bad labels
// are refused at submit; cancelling a sweep ends its trials.
TEST(StrataServerTest, SweepTrialsFailBadSweepsAreRefusedAndCancelEndsTheTrials) {
  TestServer t("server_sweep_fail");
  v1::SubmitTrainJobRequest request;
  v1::TrainJobSpec& spec = *request.mutable_spec();
  spec.set_model_name("m");
  spec.mutable_config()->set_scaler(v1::IDENTITY);
  spec.mutable_config()->set_finetune_epochs(2);
  spec.mutable_config()->mutable_optimizer()->set_kind(v1::OptimizerConfig::SGD);
  *spec.mutable_sweep()->add_parameters() =
      SweepValues("optimizer.learning_rate", {"1e-6", "3e38"});
  const Matrix rows = testing::GaussianMatrix(200, 5, 1, 100.0);
  *request.mutable_rows() = Dense(rows);
  auto job = t.client->SubmitTrainJob(request);
  ASSERT_TRUE(job.ok()) << job.status();
  const v1::TrainJob done = WaitForJob(t, job->id());
  ASSERT_EQ(done.state(), v1::TrainJob::SUCCEEDED) << done.error();
  auto info = t.client->GetModel(Spec("m"));
  ASSERT_TRUE(info.ok()) << info.status();
  ASSERT_EQ(info->summary().sweep().trials_size(), 2);
  EXPECT_EQ(info->summary().sweep().trials(1).state(), v1::SweepTrial::FAILED);
  EXPECT_THAT(info->summary().sweep().trials(1).error(), HasSubstr("diverged"));
  EXPECT_EQ(info->summary().sweep().best_trial(), 1);

  const auto refused = [&](const v1::SubmitTrainJobRequest& bad, absl::string_view why) {
    const absl::Status s = t.client->SubmitTrainJob(bad).status();
    EXPECT_EQ(CodeOf(s), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_THAT(s.message(), HasSubstr(why));
  };
  v1::SubmitTrainJobRequest bad = request;
  bad.mutable_spec()->mutable_sweep()->mutable_parameters(0)->set_field("learning_rate");
  refused(bad, "spec.sweep.parameters[0] (learning_rate): not a TrainConfig field");
  bad = request;
  bad.mutable_spec()->mutable_sweep()->set_objective(v1::LINEAR_PROBE_ACCURACY);
  refused(bad, "LINEAR_PROBE_ACCURACY needs class labels");
  bad = request;
  for (int r = 0; r < 200; ++r) bad.mutable_spec()->add_class_labels(r % 2 ? "a" : "b");
  bad.mutable_spec()->set_class_labels(7, "c");
  bad.mutable_spec()->mutable_config()->mutable_supervised()->add_class_names("a");
  bad.mutable_spec()->mutable_config()->mutable_supervised()->add_class_names("b");
  refused(bad, "spec.class_labels: row 7: class 'c' is not one of");
  EXPECT_EQ(t.client->ListTrainJobs("")->jobs_size(), 1);

  spec.mutable_config()->set_scaler(v1::STANDARD);
  spec.mutable_config()->set_finetune_epochs(1000000);
  spec.mutable_config()->mutable_early_stopping()->set_patience(0);
  spec.mutable_sweep()->mutable_parameters(0)->set_values(1, "1e-5");
  job = t.client->SubmitTrainJob(request);
  ASSERT_TRUE(job.ok()) << job.status();
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (t.client->GetTrainJob(job->id())->progress().epochs_done() < 1 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_TRUE(t.client->CancelTrainJob(job->id()).ok());
  const v1::TrainJob cancelled = WaitForJob(t, job->id());
  EXPECT_EQ(cancelled.state(), v1::TrainJob::CANCELLED);
  for (const v1::SweepTrial& trial : cancelled.sweep().trials()) {
    EXPECT_EQ(trial.state(), v1::SweepTrial::CANCELLED) << trial.trial();
  }
  EXPECT_EQ(*(*ModelStore::Create({t.models()}))->ListVersions("m"), std::vector<int64_t>{1});
}

}  // namespace
}  // namespace strata
