// Supervised training jobs over gRPC: a job with class labels (inline or a
// CSV column) publishes a version that serves Predict, unary and streamed,
// and watches its predicted classes for drift; bad labels are refused at
// submit; cancel stops the supervised phase.
#include <fstream>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "core/train/train_config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/labelled_blobs.h"
#include "tests/testing/server_requests.h"
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
using testing::TestServer;
using testing::WaitForJob;

// A job with class labels publishes a version that predicts them, unary and
// streamed, and still encodes and scores; its drift report follows the
// predicted classes. A version without a head refuses Predict.
TEST(StrataServerTest, SupervisedJobServesPredictUnaryAndStreamed) {
  TestServer t("server_supervised");
  const LabelledRows data = LabelledBlobs();
  auto job = t.client->UploadTrainJob(SupervisedSpec(data), data.rows.data(), data.rows.rows(),
                                      static_cast<int32_t>(data.rows.cols()));
  ASSERT_TRUE(job.ok()) << job.status();
  std::set<v1::EpochRecord::Phase> phases;
  bool saw_accuracy = false;
  auto done = t.client->WatchTrainJob(job->id(), [&](const v1::TrainJob& j) {
    if (j.progress().epochs_done() == 0) return;
    phases.insert(j.progress().phase());
    saw_accuracy |= j.progress().has_validation_accuracy();
  });
  ASSERT_TRUE(done.ok()) << done.status();
  ASSERT_EQ(done->state(), v1::TrainJob::SUCCEEDED) << done->error();
  EXPECT_TRUE(phases.count(v1::EpochRecord::SUPERVISED));
  EXPECT_TRUE(saw_accuracy);
  // Fine-tuning, then the head alone (its default after pretraining), then
  // the supervised phase.
  EXPECT_EQ(done->progress().epochs_planned(), 60 + kDefaultHeadEpochs);

  auto info = t.client->GetModel(Spec("classes"));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_THAT(info->class_names(), ::testing::ElementsAre("high", "low", "mid"));
  EXPECT_GE(info->summary().classifier().validation_accuracy(), 0.95);
  EXPECT_EQ(info->drift_baseline().class_proportions_size(), 3);
  // Series of the scrape that start with `metric` and contain `part`.
  const auto series = [&](absl::string_view metric, absl::string_view part) {
    int n = 0;
    for (absl::string_view line : absl::StrSplit(t.server->metrics()->Scrape(), '\n')) {
      n += absl::StartsWith(line, absl::StrCat(metric, "{")) && absl::StrContains(line, part);
    }
    return n;
  };
  // Before any Predict the training shares are exported, and no window
  // share or class PSI: nothing has been measured (not 0).
  EXPECT_EQ(series("strata_predicted_class_share", "source=\"training\""), 3);
  EXPECT_EQ(series("strata_predicted_class_share", "source=\"window\""), 0);
  EXPECT_EQ(series("strata_class_psi", "model=\"classes\""), 0);

  v1::PredictRequest request;
  *request.mutable_model() = Spec("classes");
  *request.mutable_rows() = Dense(data.rows);
  auto predicted = t.client->Predict(request);
  ASSERT_TRUE(predicted.ok()) << predicted.status();
  ASSERT_EQ(predicted->predictions_size(), 600);
  EXPECT_EQ(predicted->model().version(), 1);
  EXPECT_THAT(predicted->class_names(), ::testing::ElementsAre("high", "low", "mid"));
  const char* truth[] = {"low", "mid", "high"};
  int right = 0;
  for (int r = 0; r < 600; ++r) {
    const v1::RowPrediction& p = predicted->predictions(r);
    ASSERT_EQ(p.probabilities_size(), 3);
    EXPECT_NEAR(p.probabilities(0) + p.probabilities(1) + p.probabilities(2), 1.0, 1e-5);
    EXPECT_EQ(p.top_class(), predicted->class_names(p.top_index()));
    right += p.top_class() == truth[r % 3];
  }
  EXPECT_GE(right, 570);

  // The stream answers each message as the unary call does, in order.
  int sent = 0;
  std::vector<v1::PredictResponse> answers;
  const absl::Status streamed = t.client->StreamPredict(
      [&](v1::PredictRequest* next) {
        if (sent == 3) return false;
        if (sent == 0) *next->mutable_model() = Spec("classes");
        *next->mutable_rows() = Dense(data.rows.middleRows(100 * sent++, 100));
        return true;
      },
      [&](const v1::PredictResponse& r) { answers.push_back(r); });
  ASSERT_TRUE(streamed.ok()) << streamed;
  ASSERT_EQ(answers.size(), 3u);
  for (int m = 0; m < 3; ++m) {
    for (int r = 0; r < 100; ++r) {
      EXPECT_EQ(answers[m].predictions(r).top_index(),
                predicted->predictions(100 * m + r).top_index());
    }
  }

  // The autoencoder serves as before.
  v1::AnomalyScoreRequest score;
  *score.mutable_model() = Spec("classes");
  *score.mutable_rows() = Dense(data.rows.topRows(10));
  EXPECT_TRUE(t.client->AnomalyScore(score).ok());
  // Predicted classes are watched for drift: 900 rows so far, in the
  // training shares.
  auto drift = t.client->DriftReport(Spec("classes"));
  ASSERT_TRUE(drift.ok()) << drift.status();
  EXPECT_EQ(drift->figures().class_rows(), 900);
  EXPECT_LT(drift->figures().class_psi(), 0.05);
  EXPECT_EQ(series("strata_predicted_class_share", "source=\"window\""), 3);
  EXPECT_EQ(series("strata_class_psi", "model=\"classes\""), 1);
  // Rows from one blob only move the predicted classes, and the PSI shows it.
  Matrix one_blob(2000, 6);
  for (int r = 0; r < 2000; ++r) one_blob.row(r) = data.rows.row((3 * r) % 600);
  *request.mutable_rows() = Dense(one_blob);
  ASSERT_TRUE(t.client->Predict(request).ok());
  EXPECT_GT(t.client->DriftReport(Spec("classes"))->figures().class_psi(), 0.25);

  // A version without a classifier head.
  t.Publish("plain", *testing::SmallModel());
  *request.mutable_model() = Spec("plain");
  *request.mutable_rows() =
      Dense(testing::GaussianMatrix(2, testing::SmallModel()->input_dim(), 1));
  const absl::Status headless = t.client->Predict(request).status();
  EXPECT_EQ(CodeOf(headless), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(headless.message(), HasSubstr("no classifier head"));
  const absl::Status headless_stream = t.client->StreamPredict(
      [&, first = true](v1::PredictRequest* next) mutable {
        if (!first) return false;
        *next = request;
        first = false;
        return true;
      },
      [](const v1::PredictResponse&) { ADD_FAILURE() << "answered without a head"; });
  EXPECT_EQ(CodeOf(headless_stream), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(headless_stream.message(), HasSubstr("stream message 0"));
}

// Labels from a CSV column; a label outside the declared classes fails the
// job naming its line, and publishes nothing.
TEST(StrataServerTest, SupervisedJobFromACsvLabelColumn) {
  TestServer t("server_supervised_csv");
  const LabelledRows data = LabelledBlobs(300);
  std::ofstream csv(t.data() + "/blobs.csv");
  csv << "a,b,c,kind,d,e,f\n";
  for (int r = 0; r < 300; ++r) {
    for (int c = 0; c < 6; ++c)
      csv << data.rows(r, c) << (c == 2 ? "," + data.labels[r] : "") << (c < 5 ? "," : "\n");
  }
  csv.close();
  v1::SubmitTrainJobRequest request;
  *request.mutable_spec() = SupervisedSpec(data);
  request.mutable_spec()->clear_class_labels();
  request.mutable_spec()->set_label_column("kind");
  request.set_csv_path("blobs.csv");
  const v1::TrainJob done = WaitForJob(t, t.client->SubmitTrainJob(request)->id());
  ASSERT_EQ(done.state(), v1::TrainJob::SUCCEEDED) << done.error();
  auto info = t.client->GetModel(Spec("classes"));
  EXPECT_THAT(info->feature_names(), ::testing::ElementsAre("a", "b", "c", "d", "e", "f"));
  EXPECT_THAT(info->class_names(), ::testing::ElementsAre("high", "low", "mid"));
  EXPECT_EQ(info->summary().classifier().train_labelled_rows() +
                info->summary().classifier().validation_labelled_rows(),
            240);

  // Declared classes that leave out "mid": line 3 (row 1, a "mid") fails.
  for (const char* name : {"low", "high"}) {
    request.mutable_spec()->mutable_config()->mutable_supervised()->add_class_names(name);
  }
  const v1::TrainJob bad = WaitForJob(t, t.client->SubmitTrainJob(request)->id());
  EXPECT_EQ(bad.state(), v1::TrainJob::FAILED);
  EXPECT_THAT(bad.error(), HasSubstr("label column 'kind': line 3: class 'mid' is not one of "
                                     "supervised.class_names (low, high)"));
  EXPECT_EQ((*ModelStore::Create({t.models()}))->ListVersions("classes")->size(), 1u);
}

// Labels that cannot train a classifier are refused at submit, naming the
// field or the row, and create no job.
TEST(StrataServerTest, BadClassLabelsAreRefusedAtSubmit) {
  TestServer t("server_bad_labels");
  const LabelledRows data = LabelledBlobs(100);
  v1::SubmitTrainJobRequest request;
  *request.mutable_spec() = SupervisedSpec(data);
  *request.mutable_rows() = Dense(data.rows);
  const auto refused = [&](absl::string_view why) {
    const absl::Status s = t.client->SubmitTrainJob(request).status();
    EXPECT_EQ(CodeOf(s), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_THAT(s.message(), HasSubstr(why));
    // The same through an upload.
    const absl::Status u =
        t.client->UploadTrainJob(request.spec(), data.rows.data(), data.rows.rows(), 6).status();
    EXPECT_THAT(u.message(), HasSubstr(why));
  };
  request.mutable_spec()->mutable_class_labels()->RemoveLast();
  refused("spec.class_labels has 99 labels for 100 rows");
  *request.mutable_spec() = SupervisedSpec(data);
  request.mutable_spec()->set_class_labels(7, "medium");
  request.mutable_spec()->mutable_config()->mutable_supervised()->add_class_names("low");
  request.mutable_spec()->mutable_config()->mutable_supervised()->add_class_names("mid");
  request.mutable_spec()->mutable_config()->mutable_supervised()->add_class_names("high");
  refused("spec.class_labels: row 7: class 'medium' is not one of");
  *request.mutable_spec() = SupervisedSpec(data);
  for (std::string& label : *request.mutable_spec()->mutable_class_labels()) {
    if (!label.empty()) label = "same";
  }
  refused("a classifier needs at least 2");
  *request.mutable_spec() = SupervisedSpec(data);
  request.mutable_spec()->mutable_config()->mutable_supervised()->set_reconstruction_weight(-1);
  refused("supervised.reconstruction_weight");
  *request.mutable_spec() = SupervisedSpec(data);
  request.mutable_spec()->clear_class_labels();
  request.mutable_spec()->set_label_column("kind");
  refused("spec.label_column names a column of csv_path data");
  EXPECT_TRUE(t.client->ListTrainJobs("")->jobs().empty());
}

// Cancelling a job in its supervised phase stops it there; nothing is
// published.
TEST(StrataServerTest, CancelStopsTheSupervisedPhase) {
  TestServer t("server_cancel_supervised");
  const LabelledRows data = LabelledBlobs();
  v1::TrainJobSpec spec = SupervisedSpec(data);
  spec.mutable_config()->set_finetune_epochs(1);
  spec.mutable_config()->mutable_supervised()->set_epochs(1000000);
  spec.mutable_config()->mutable_early_stopping()->set_patience(0);
  auto job = t.client->UploadTrainJob(spec, data.rows.data(), data.rows.rows(), 6);
  ASSERT_TRUE(job.ok()) << job.status();
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (t.client->GetTrainJob(job->id())->progress().phase() != v1::EpochRecord::SUPERVISED &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_EQ(t.client->GetTrainJob(job->id())->progress().phase(), v1::EpochRecord::SUPERVISED);
  ASSERT_TRUE(t.client->CancelTrainJob(job->id()).ok());
  const v1::TrainJob done = WaitForJob(t, job->id());
  EXPECT_EQ(done.state(), v1::TrainJob::CANCELLED);
  EXPECT_THAT(done.error(), HasSubstr("training cancelled"));
  EXPECT_TRUE((*ModelStore::Create({t.models()}))->ListVersions("classes")->empty());
}

}  // namespace
}  // namespace strata
