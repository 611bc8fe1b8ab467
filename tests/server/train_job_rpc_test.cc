// Training jobs over gRPC (server/training_service.cc, server/train_jobs.h):
// an uploaded or submitted job is served without a restart; CSV paths stay
// under --data_root; bad configs are refused at submit; cancel stops running
// and queued jobs.
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/server_requests.h"
#include "tests/testing/test_server.h"

namespace strata {
namespace {

using testing::CodeOf;
using testing::Dense;
using ::testing::HasSubstr;
using testing::Spec;
using testing::TestServer;
using testing::WaitForJob;

TEST(StrataServerTest, TrainJobUploadedThenServedWithoutRestart) {
  TestServer t("server_train_upload");
  const Matrix data = testing::ManifoldData(800, 5, 2, 7);
  v1::TrainJobSpec spec;
  spec.set_model_name("fresh");
  spec.mutable_config()->set_finetune_epochs(15);
  spec.mutable_config()->mutable_anomaly()->set_threshold_percentile(95);
  spec.add_labels("stable");
  for (int i = 0; i < 5; ++i) spec.add_feature_names("x" + std::to_string(i));
  auto job = t.client->UploadTrainJob(spec, data.data(), data.rows(), 5);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->rows(), 800);
  EXPECT_EQ(job->cols(), 5);

  std::vector<int> epochs;
  std::set<v1::TrainJob::State> states;
  auto done = t.client->WatchTrainJob(job->id(), [&](const v1::TrainJob& j) {
    states.insert(j.state());
    if (j.progress().epochs_done()) epochs.push_back(j.progress().epochs_done());
  });
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state(), v1::TrainJob::SUCCEEDED) << done->error();
  EXPECT_EQ(done->version(), 1);
  // Every network of the default ensemble (5 for this data) counts.
  EXPECT_EQ(done->progress().epochs_done(), 5 * 15);
  EXPECT_EQ(done->progress().epochs_planned(), 5 * 15);
  EXPECT_EQ(done->progress().networks(), 5);
  EXPECT_EQ(done->summary().epochs(), 5 * 15);
  EXPECT_TRUE(std::is_sorted(epochs.begin(), epochs.end()));
  EXPECT_TRUE(states.count(v1::TrainJob::SUCCEEDED));

  // Served at once, by label too, with its calibration and history.
  v1::ModelSpec stable = Spec("fresh");
  stable.set_label("stable");
  v1::EncodeRequest encode;
  *encode.mutable_model() = stable;
  *encode.mutable_rows() = Dense(data.topRows(3));
  auto code = t.client->Encode(encode);
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(code->model().version(), 1);
  auto info = t.client->GetModel(Spec("fresh"));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->history_size(), 15);  // the served network's
  EXPECT_EQ(info->config().finetune_epochs(), 15);
  // The job's summary is the version's: the same seconds the CLI and
  // `strata inspect` print.
  EXPECT_EQ(done->summary().seconds(), info->summary().seconds());
  EXPECT_EQ(done->summary().epochs(), info->summary().epochs());
  EXPECT_DOUBLE_EQ(info->calibration().threshold_percentile(), 95);
  EXPECT_EQ(info->calibration().mean_squared().quantiles_size(), 800);
  EXPECT_EQ(info->feature_names(4), "x4");
  EXPECT_THAT(info->labels(), ::testing::ElementsAre("stable"));
  EXPECT_GT(info->created_unix_micros(), 0);
  auto models = t.client->ListModels();
  ASSERT_EQ(models->models_size(), 1);
  EXPECT_EQ(models->models(0).labels().at("stable"), 1);
  auto jobs = t.client->ListTrainJobs("");
  ASSERT_EQ(jobs->jobs_size(), 1);
  EXPECT_EQ(jobs->jobs(0).state(), v1::TrainJob::SUCCEEDED);
  EXPECT_EQ(t.client->GetTrainJob(job->id())->version(), 1);

  // A second job publishes version 2, which becomes the latest.
  v1::SubmitTrainJobRequest inline_job;
  *inline_job.mutable_spec() = spec;
  inline_job.mutable_spec()->clear_labels();
  *inline_job.mutable_rows() = Dense(data);
  auto second = t.client->SubmitTrainJob(inline_job);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(WaitForJob(t, second->id()).version(), 2);
  encode.mutable_model()->clear_label();
  EXPECT_EQ(t.client->Encode(encode)->model().version(), 2);
}

TEST(StrataServerTest, TrainJobFromCsvConfinedToDataRoot) {
  TestServer t("server_train_csv");
  std::system(("cp data/thyroid.csv " + t.data() + "/thyroid.csv").c_str());
  v1::SubmitTrainJobRequest request;
  request.mutable_spec()->set_model_name("thyroid");
  request.mutable_spec()->mutable_config()->set_finetune_epochs(2);
  request.mutable_spec()->add_drop_columns("label");
  request.set_csv_path("thyroid.csv");
  auto job = t.client->SubmitTrainJob(request);
  ASSERT_TRUE(job.ok()) << job.status();
  const v1::TrainJob done = WaitForJob(t, job->id());
  EXPECT_EQ(done.state(), v1::TrainJob::SUCCEEDED) << done.error();
  EXPECT_EQ(done.rows(), 3772);
  EXPECT_EQ(done.cols(), 6);
  EXPECT_EQ(t.client->GetModel(Spec("thyroid"))->feature_names(5), "f5");

  // Escapes are refused before any job exists.
  symlink("/etc", (t.data() + "/escape").c_str());
  for (const char* path : {"../models/x.csv", "/etc/passwd", "escape/passwd"}) {
    request.set_csv_path(path);
    auto refused = t.client->SubmitTrainJob(request);
    EXPECT_EQ(CodeOf(refused.status()), absl::StatusCode::kPermissionDenied) << path;
  }
  request.set_csv_path("missing.csv");
  EXPECT_EQ(CodeOf(t.client->SubmitTrainJob(request).status()), absl::StatusCode::kNotFound);
  // A CSV with a bad cell fails the job, naming line and column.
  std::ofstream(t.data() + "/bad.csv") << "a,b\n1,2\n3,zz\n";
  request.set_csv_path("bad.csv");
  request.mutable_spec()->clear_drop_columns();
  const v1::TrainJob bad = WaitForJob(t, t.client->SubmitTrainJob(request)->id());
  EXPECT_EQ(bad.state(), v1::TrainJob::FAILED);
  EXPECT_THAT(bad.error(), HasSubstr("line 3, column 2 (b)"));
}

TEST(StrataServerTest, BadConfigIsRefusedAtSubmitAndCreatesNoJob) {
  TestServer t("server_bad_config");
  v1::SubmitTrainJobRequest request;
  request.mutable_spec()->set_model_name("m");
  request.mutable_spec()->mutable_config()->set_dropout(1.5f);
  const Matrix rows = testing::GaussianMatrix(50, 4, 1);
  *request.mutable_rows() = Dense(rows);
  const absl::Status submitted = t.client->SubmitTrainJob(request).status();
  EXPECT_EQ(CodeOf(submitted), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(submitted.message(), HasSubstr("spec.config: config field dropout"));
  // The same through an upload.
  const absl::Status uploaded =
      t.client->UploadTrainJob(request.spec(), rows.data(), rows.rows(), rows.cols()).status();
  EXPECT_EQ(CodeOf(uploaded), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(uploaded.message(), HasSubstr("dropout"));
  // A config asking for more memory than any server has is refused too.
  request.mutable_spec()->mutable_config()->set_dropout(0);
  request.mutable_spec()->mutable_config()->add_encoder_widths(100000000);
  EXPECT_THAT(t.client->SubmitTrainJob(request).status().message(), HasSubstr("encoder_widths[0]"));
  // Too few rows to calibrate on.
  request.mutable_spec()->mutable_config()->clear_encoder_widths();
  *request.mutable_rows() = Dense(testing::GaussianMatrix(1, 4, 1));
  EXPECT_THAT(t.client->SubmitTrainJob(request).status().message(),
              HasSubstr("has 1 rows; at least 50"));
  EXPECT_TRUE(t.client->ListTrainJobs("")->jobs().empty());
  EXPECT_TRUE((*ModelStore::Create({t.models()}))->ListVersions("m")->empty());
}

TEST(StrataServerTest, CancelStopsRunningAndQueuedJobs) {
  TestServer t("server_cancel");
  v1::SubmitTrainJobRequest request;
  request.mutable_spec()->set_model_name("slow");
  request.mutable_spec()->mutable_config()->set_finetune_epochs(100000);
  request.mutable_spec()->mutable_config()->mutable_early_stopping()->set_patience(0);
  *request.mutable_rows() = Dense(testing::GaussianMatrix(2000, 8, 1));
  auto running = t.client->SubmitTrainJob(request);
  auto queued = t.client->SubmitTrainJob(request);  // one job at a time: this one waits
  ASSERT_TRUE(running.ok() && queued.ok());
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (t.client->GetTrainJob(running->id())->progress().epochs_done() < 1 &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  // Seen training, so the cancel below stops a running job, not a queued one.
  const v1::TrainJob seen = *t.client->GetTrainJob(running->id());
  ASSERT_EQ(seen.state(), v1::TrainJob::RUNNING);
  ASSERT_GE(seen.progress().epochs_done(), 1);
  EXPECT_EQ(t.client->GetTrainJob(queued->id())->state(), v1::TrainJob::QUEUED);
  EXPECT_EQ(t.client->CancelTrainJob(queued->id())->state(), v1::TrainJob::CANCELLED);
  ASSERT_TRUE(t.client->CancelTrainJob(running->id()).ok());
  EXPECT_EQ(WaitForJob(t, running->id()).state(), v1::TrainJob::CANCELLED);
  EXPECT_TRUE((*ModelStore::Create({t.models()}))->ListVersions("slow")->empty());
  EXPECT_EQ(CodeOf(t.client->CancelTrainJob("job-404").status()), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace strata
