// The service end to end over gRPC: an in-process server on a free loopback
// port, called through the client library.
#include "server/strata_server.h"

#include <grpcpp/create_channel.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <future>
#include <set>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "core/model/model_io.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "proto/dense_matrix.h"
#include "tests/testing/call_gate.h"
#include "tests/testing/sweep_spec.h"
#include "tests/testing/test_server.h"

namespace strata {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::SweepValues;
using testing::TestServer;

v1::ModelSpec Spec(const std::string& name, int64_t version = 0) {
  v1::ModelSpec s;
  s.set_name(name);
  if (version) s.set_version(version);
  return s;
}

v1::DenseMatrix Dense(const Matrix& m) {
  v1::DenseMatrix d;
  ToDenseMatrix(m, &d);
  return d;
}

Matrix FromWire(const v1::DenseMatrix& d) { return *FromDenseMatrix(d, "test", 1 << 30); }

absl::StatusCode CodeOf(const absl::Status& s) { return s.code(); }

v1::TrainJob WaitForJob(TestServer& t, const std::string& id) {
  auto job = t.client->WatchTrainJob(id, [](const v1::TrainJob&) {});
  EXPECT_TRUE(job.ok()) << job.status();
  return *job;
}

// The inference tests run with dynamic batching off and on: a lone request
// batched alone must answer exactly as an unbatched one.
class InferenceTest : public ::testing::TestWithParam<int64_t> {
 protected:
  std::function<void(StrataServer::Options*)> Batching() const {
    const int64_t rows = GetParam();
    return [rows](StrataServer::Options* o) { o->dynamic_batch_rows = rows; };
  }
};
INSTANTIATE_TEST_SUITE_P(Batching, InferenceTest, ::testing::Values(0, 64),
                         [](const auto& info) { return info.param ? "On" : "Off"; });

TEST_P(InferenceTest, EncodeReconstructAndScoreMatchTheCore) {
  TestServer t(absl::StrCat("server_inference_", GetParam()), Batching());
  const std::unique_ptr<Model> model = testing::SmallModel(6, 1, 20);
  ASSERT_EQ(t.Publish("m", *model), 1);
  const Matrix x = testing::GaussianMatrix(9, 6, 5);

  v1::EncodeRequest encode;
  *encode.mutable_model() = Spec("m");
  *encode.mutable_rows() = Dense(x);
  auto code = t.client->Encode(encode);
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(code->model().name(), "m");
  EXPECT_EQ(code->model().version(), 1);
  EXPECT_EQ(code->layer(), 2);  // default: the code layer
  EXPECT_EQ(FromWire(code->features()), *model->Encode(x, 2));
  encode.set_layer(1);
  auto h1 = t.client->Encode(encode);
  ASSERT_TRUE(h1.ok());
  EXPECT_EQ(h1->features().cols(), 4);
  EXPECT_EQ(FromWire(h1->features()), *model->Encode(x, 1));

  v1::ReconstructRequest reconstruct;
  *reconstruct.mutable_model() = Spec("m", 1);
  *reconstruct.mutable_rows() = Dense(x);
  auto recon = t.client->Reconstruct(reconstruct);
  ASSERT_TRUE(recon.ok()) << recon.status();
  EXPECT_EQ(FromWire(recon->reconstructions()), *model->Reconstruct(x));

  // Every metric; an unspecified one is the model's default, ENSEMBLE.
  ASSERT_EQ(model->default_metric(), ScoreMetric::kEnsemble);
  const std::vector<std::pair<v1::ScoreOptions::Metric, ScoreMetric>> metrics = {
      {v1::ScoreOptions::METRIC_UNSPECIFIED, ScoreMetric::kEnsemble},
      {v1::ScoreOptions::ENSEMBLE, ScoreMetric::kEnsemble},
      {v1::ScoreOptions::MEAN_SQUARED, ScoreMetric::kMeanSquared},
      {v1::ScoreOptions::MEAN_ABSOLUTE, ScoreMetric::kMeanAbsolute},
      {v1::ScoreOptions::CODE_DISTANCE, ScoreMetric::kCodeDistance},
      {v1::ScoreOptions::COMBINED, ScoreMetric::kCombined}};
  const Matrix squared = *model->FeatureErrors(x, ScoreMetric::kMeanSquared);
  const Matrix codes = *model->Encode(x, model->depth());
  const v1::AnomalyCalibration& c = model->info().calibration;
  for (const auto& [metric, core_metric] : metrics) {
    SCOPED_TRACE(v1::ScoreOptions::Metric_Name(metric));
    v1::AnomalyScoreRequest score;
    *score.mutable_model() = Spec("m");
    *score.mutable_rows() = Dense(x);
    score.mutable_options()->set_metric(metric);
    score.mutable_options()->set_feature_errors(true);
    auto scores = t.client->AnomalyScore(score);
    ASSERT_TRUE(scores.ok()) << scores.status();
    const Matrix errors = *model->FeatureErrors(x, core_metric);
    const v1::ScoreDistribution& d = model->score_distribution(core_metric);
    EXPECT_EQ(scores->metric(),
              metric == v1::ScoreOptions::METRIC_UNSPECIFIED ? v1::ScoreOptions::ENSEMBLE : metric);
    EXPECT_EQ(scores->threshold(), d.threshold());
    EXPECT_GT(scores->threshold(), 0);
    ASSERT_EQ(scores->scores_size(), 9);
    for (int r = 0; r < 9; ++r) {
      const v1::RowScore& s = scores->scores(r);
      const double mse = squared.row(r).mean();
      // (z - mean)' precision (z - mean) / k, by hand.
      const int k = static_cast<int>(codes.cols());
      const RowVector centered =
          codes.row(r) - Eigen::Map<const RowVector>(c.code().mean().data(), k);
      const double distance =
          (centered * Eigen::Map<const Matrix>(c.code().precision().data(), k, k) *
           centered.transpose())(0) /
          k;
      switch (core_metric) {
        case ScoreMetric::kMeanSquared:
        case ScoreMetric::kMeanAbsolute:
          EXPECT_FLOAT_EQ(s.score(), errors.row(r).mean());
          break;
        case ScoreMetric::kCodeDistance:
          EXPECT_NEAR(s.score(), distance, 1e-4 * distance);
          break;
        case ScoreMetric::kCombined:
          EXPECT_NEAR(s.score(), distance + mse / c.mse_scale(), 1e-4 * s.score());
          break;
        case ScoreMetric::kEnsemble:  // its terms are checked by hand in core's tests
          EXPECT_FLOAT_EQ(s.score(), (*model->Score(x, ScoreMetric::kEnsemble))(r, 6));
          break;
      }
      EXPECT_EQ(s.is_anomaly(), s.score() > d.threshold());
      EXPECT_FLOAT_EQ(s.percentile(), PercentileOfScore(d, s.score()));
      ASSERT_EQ(s.feature_errors_size(), 6);
      EXPECT_FLOAT_EQ(s.feature_errors(3), errors(r, 3));
    }
  }
}

TEST_P(InferenceTest, ScoreStreamAnswersInOrder) {
  TestServer t(absl::StrCat("server_stream_", GetParam()), Batching());
  const std::unique_ptr<Model> model = testing::SmallModel();
  t.Publish("m", *model);
  int sent = 0, received = 0;
  std::vector<int> rows_seen;
  const absl::Status s = t.client->StreamAnomalyScore(
      [&](v1::AnomalyScoreRequest* request) {
        if (sent == 20) return false;
        // Only the first message names the model; the rest keep it.
        if (sent == 0) *request->mutable_model() = Spec("m");
        *request->mutable_rows() = Dense(testing::GaussianMatrix(sent + 1, 6, 100 + sent));
        ++sent;
        return true;
      },
      [&](const v1::AnomalyScoreResponse& response) {
        ++received;
        rows_seen.push_back(response.scores_size());
        EXPECT_EQ(response.model().version(), 1);
        const Matrix x =
            testing::GaussianMatrix(response.scores_size(), 6, 100 + response.scores_size() - 1);
        EXPECT_FLOAT_EQ(response.scores(0).score(),
                        (*model->Score(x, model->default_metric()))(0, 6));
      });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(received, 20);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(rows_seen[i], i + 1);
}

TEST_P(InferenceTest, ConcurrentSingleRowCallsGetTheirOwnAnswers) {
  TestServer t(absl::StrCat("server_concurrent_", GetParam()), [&](StrataServer::Options* o) {
    o->dynamic_batch_rows = GetParam();
    o->dynamic_batch_delay = absl::Milliseconds(2);
  });
  const std::unique_ptr<Model> model = testing::SmallModel(6, 1, 20);
  t.Publish("m", *model);
  constexpr int kThreads = 8, kCalls = 40;
  const Matrix x = testing::GaussianMatrix(kThreads * kCalls, 6, 77);
  const Matrix codes = *model->Encode(x, 2);
  const Eigen::VectorXf scores = model->Score(x, model->default_metric())->col(6);
  std::atomic<int> failures{0}, wrong{0};
  std::vector<std::thread> threads;
  for (int th = 0; th < kThreads; ++th) {
    threads.emplace_back([&, th] {
      for (int i = 0; i < kCalls; ++i) {
        const int r = th * kCalls + i;
        const Matrix row = x.middleRows(r, 1);
        if (i % 2 == 0) {
          v1::EncodeRequest request;
          *request.mutable_model() = Spec("m");
          *request.mutable_rows() = Dense(row);
          auto response = t.client->Encode(request);
          if (!response.ok()) {
            ++failures;
          } else if (!FromWire(response->features()).isApprox(codes.row(r), 1e-5f)) {
            ++wrong;
          }
        } else {
          v1::AnomalyScoreRequest request;
          *request.mutable_model() = Spec("m");
          *request.mutable_rows() = Dense(row);
          auto response = t.client->AnomalyScore(request);
          if (!response.ok()) {
            ++failures;
          } else if (std::abs(response->scores(0).score() - scores(r)) > 1e-5f * scores(r)) {
            ++wrong;
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(wrong, 0);
  // With batching on, calls shared model calls: fewer calls than requests.
  const std::string scraped = t.server->metrics()->Scrape();
  const auto figure = [&](const std::string& name) {
    const size_t at = scraped.find("\n" + name + " ");
    return at == std::string::npos ? -1.0 : std::stod(scraped.substr(at + name.size() + 2));
  };
  if (GetParam() > 0) {
    EXPECT_EQ(figure("strata_batch_requests_total"), kThreads * kCalls);
    EXPECT_EQ(figure("strata_batch_rows_sum"), kThreads * kCalls);
    EXPECT_LT(figure("strata_batch_rows_count"), kThreads * kCalls);
  } else {
    EXPECT_EQ(scraped.find("strata_batch_rows_count"), std::string::npos);
  }
}

TEST_P(InferenceTest, StreamReadsAheadAndKeepsOrder) {
  // The client sends all 200 messages before reading any answer; the server
  // reads ahead (up to its limit) and answers each in order.
  TestServer t(absl::StrCat("server_stream_ahead_", GetParam()), Batching());
  const std::unique_ptr<Model> model = testing::SmallModel();
  t.Publish("m", *model);
  const Matrix x = testing::GaussianMatrix(200, 6, 9);
  const Matrix errors = *model->FeatureErrors(x, ScoreMetric::kMeanAbsolute);
  int sent = 0, received = 0, wrong = 0;
  const absl::Status s = t.client->StreamAnomalyScore(
      [&](v1::AnomalyScoreRequest* request) {
        if (sent == 200) return false;
        *request->mutable_model() = Spec("m");
        *request->mutable_rows() = Dense(x.middleRows(sent, 1));
        request->mutable_options()->set_metric(v1::ScoreOptions::MEAN_ABSOLUTE);
        ++sent;
        return true;
      },
      [&](const v1::AnomalyScoreResponse& response) {
        const float expected = errors.row(received).mean();
        if (std::abs(response.scores(0).score() - expected) > 1e-5f * expected) ++wrong;
        ++received;
      });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(received, 200);
  EXPECT_EQ(wrong, 0);
}

TEST(StrataServerTest, ModelsFromBeforeCodeScoresScoreByMse) {
  TestServer t("server_old_model");
  v1::ModelArtifact artifact = ModelToArtifact(*testing::SmallModel());
  testing::DropEnsemble(&artifact);
  artifact.mutable_calibration()->clear_code();
  artifact.mutable_calibration()->clear_code_distance();
  artifact.mutable_calibration()->clear_combined();
  t.Publish("old", **ModelFromArtifact(artifact));
  v1::AnomalyScoreRequest request;
  *request.mutable_model() = Spec("old");
  *request.mutable_rows() = Dense(testing::GaussianMatrix(3, 6, 4));
  auto scores = t.client->AnomalyScore(request);
  ASSERT_TRUE(scores.ok()) << scores.status();
  EXPECT_EQ(scores->metric(), v1::ScoreOptions::MEAN_SQUARED);
  request.mutable_options()->set_metric(v1::ScoreOptions::COMBINED);
  const absl::Status refused = t.client->AnomalyScore(request).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.message(), HasSubstr("options.metric COMBINED: this model version was "
                                           "trained before code-distance scores"));
  request.mutable_options()->set_metric(static_cast<v1::ScoreOptions::Metric>(9));
  EXPECT_EQ(t.client->AnomalyScore(request).status().code(), absl::StatusCode::kInvalidArgument);
}

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

// Three blobs with text labels, every fifth row unlabelled.
struct LabelledRows {
  Matrix rows;
  std::vector<std::string> labels;
};
LabelledRows LabelledBlobs(int rows = 600) {
  testing::Blobs blobs = testing::GaussianBlobs(rows, 6, 3, 23, 0.5);
  LabelledRows out{std::move(blobs.rows), {}};
  const char* names[] = {"low", "mid", "high"};
  for (int r = 0; r < rows; ++r) out.labels.push_back(r % 5 == 0 ? "" : names[r % 3]);
  return out;
}

v1::TrainJobSpec SupervisedSpec(const LabelledRows& data) {
  v1::TrainJobSpec spec;
  spec.set_model_name("classes");
  v1::TrainConfig* config = spec.mutable_config();
  config->add_encoder_widths(4);
  config->add_encoder_widths(3);
  config->set_finetune_epochs(30);
  config->mutable_optimizer()->set_learning_rate(0.01f);
  config->mutable_anomaly()->set_ensemble_size(1);
  config->mutable_supervised()->set_epochs(30);
  for (const std::string& label : data.labels) spec.add_class_labels(label);
  return spec;
}

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
  EXPECT_EQ(done->progress().epochs_planned(), 60);

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

// SetLabel, SubmitTrainJob and CancelTrainJob write the store or a job
// record (fsync) and wait on the registry's locks: they run on the server's
// store queue, not on gRPC's callback threads. With the queue's one thread
// held, each of them waits there (queued, nothing written yet) while reads
// answer; once released, they all complete, in order.
TEST(StrataServerTest, StoreWritesWaitOnTheStoreQueueNotOnCallbackThreads) {
  TestServer t("server_store_queue");
  const std::unique_ptr<Model> model = testing::SmallModel();
  t.Publish("m", *model);
  t.Publish("m", *model);
  WorkQueue* queue = t.server->store_work();
  ASSERT_NE(queue, nullptr);
  std::promise<void> gate;
  std::shared_future<void> open = gate.get_future().share();
  ASSERT_TRUE(queue->Submit([open] { open.wait(); }));
  // Declared before the gate's release, so destroyed after it: a failed
  // assertion opens the gate first, and the calls then end at once.
  std::future<absl::StatusOr<v1::SetLabelResponse>> label;
  std::future<absl::StatusOr<v1::TrainJob>> submitted, cancelled;
  absl::Cleanup release = [&gate] { gate.set_value(); };
  const auto wait_for_queued = [queue](int64_t n) {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (queue->queued() != n && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
    return queue->queued();
  };
  ASSERT_EQ(wait_for_queued(0), 0);  // the gate closure is running

  label = std::async(std::launch::async, [&] { return t.client->SetLabel("m", "prod", 1); });
  ASSERT_EQ(wait_for_queued(1), 1);
  v1::SubmitTrainJobRequest request;
  request.mutable_spec()->set_model_name("n");
  request.mutable_spec()->mutable_config()->set_finetune_epochs(1);
  *request.mutable_rows() = Dense(testing::GaussianMatrix(200, 6, 1));
  submitted = std::async(std::launch::async, [&] { return t.client->SubmitTrainJob(request); });
  ASSERT_EQ(wait_for_queued(2), 2);
  cancelled = std::async(std::launch::async, [&] { return t.client->CancelTrainJob("job-404"); });
  ASSERT_EQ(wait_for_queued(3), 3);

  // Nothing written yet, and reads do not wait behind the queue.
  EXPECT_TRUE((*ModelStore::Create({t.models()}))->ReadLabels("m")->labels().empty());
  EXPECT_TRUE(t.client->ListTrainJobs("")->jobs().empty());
  auto served = t.client->GetModel(Spec("m"));
  ASSERT_TRUE(served.ok()) << served.status();
  EXPECT_EQ(served->model().version(), 2);

  std::move(release).Invoke();
  const auto labels = label.get();
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_EQ(labels->labels().at("prod"), 1);
  const auto job = submitted.get();
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(CodeOf(cancelled.get().status()), absl::StatusCode::kNotFound);
  EXPECT_EQ(WaitForJob(t, job->id()).state(), v1::TrainJob::SUCCEEDED);
  EXPECT_EQ(t.client->GetModel(Spec("m", 0))->model().version(), 2);
  v1::ModelSpec prod = Spec("m");
  prod.set_label("prod");
  EXPECT_EQ(t.client->GetModel(prod)->model().version(), 1);
}

TEST(StrataServerTest, HotSwapDropsNoCall) {
  TestServer t("server_hot_swap");
  t.Publish("m", *testing::SmallModel(6, 1));
  std::atomic<bool> stop{false};
  std::atomic<int> calls{0}, failures{0};
  std::atomic<int64_t> last_version{0};
  std::vector<int64_t> versions;  // read only after the loop has joined
  std::thread loop([&] {
    v1::EncodeRequest encode;
    *encode.mutable_model() = Spec("m");
    *encode.mutable_rows() = Dense(testing::GaussianMatrix(4, 6, 3));
    const absl::Time deadline = absl::Now() + absl::Seconds(20);  // bounded in time and count
    while (!stop && calls < 200000 && absl::Now() < deadline) {
      auto r = t.client->Encode(encode);
      ++calls;
      if (!r.ok()) {
        ++failures;
      } else if (versions.empty() || versions.back() != r->model().version()) {
        versions.push_back(r->model().version());
        last_version = r->model().version();
      }
    }
  });
  // Calls are answered by version 1 before version 2 appears (bounded wait:
  // under TSan the first call alone can take a few hundred ms).
  for (int i = 0; i < 1000 && last_version != 1; ++i) absl::SleepFor(absl::Milliseconds(10));
  if (last_version != 1) {
    stop = true;
    loop.join();
    FAIL() << "no call was answered by version 1";
  }
  absl::SleepFor(absl::Milliseconds(100));
  // Published by hand: the poll picks it up while calls keep coming.
  auto store = ModelStore::Create({t.models()});
  ASSERT_EQ(*(*store)->Publish("m", *testing::SmallModel(6, 2)), 2);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (last_version != 2 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  absl::SleepFor(absl::Milliseconds(200));
  stop = true;
  loop.join();
  EXPECT_EQ(failures, 0);
  EXPECT_GT(calls, 10);
  EXPECT_EQ(versions, (std::vector<int64_t>{1, 2}));
}

TEST(StrataServerTest, UnloadedVersionsLeaveNoRequestSeries) {
  TestServer t("server_series");
  t.Publish("m", *testing::SmallModel(6, 1));
  v1::EncodeRequest encode;
  *encode.mutable_model() = Spec("m");
  *encode.mutable_rows() = Dense(testing::GaussianMatrix(2, 6, 1));
  ASSERT_TRUE(t.client->Encode(encode).ok());
  const std::string v1_series = "method=\"Encode\",model=\"m\",version=\"1\"";
  EXPECT_THAT(t.server->metrics()->Scrape(), HasSubstr(v1_series));
  t.Publish("m", *testing::SmallModel(6, 2));  // the policy serves the latest only
  ASSERT_TRUE(t.client->Encode(encode).ok());
  const std::string scraped = t.server->metrics()->Scrape();
  EXPECT_THAT(scraped, Not(HasSubstr(v1_series)));
  EXPECT_THAT(scraped, HasSubstr("method=\"Encode\",model=\"m\",version=\"2\""));
}

TEST(StrataServerTest, HandDroppedVersionIsServedAndCorruptOneSkipped) {
  TestServer t("server_dropped");
  // A version written elsewhere and renamed into the store.
  const std::string tmp = t.models() + "/.incoming";
  std::system(("mkdir -p " + tmp + " " + t.models() + "/m").c_str());
  ASSERT_TRUE(WriteModelFile(*testing::SmallModel(), tmp + "/" + kModelFileName).ok());
  ASSERT_EQ(rename(tmp.c_str(), (t.models() + "/m/1").c_str()), 0);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!t.client->GetModel(Spec("m")).ok() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_EQ(t.client->GetModel(Spec("m"))->model().version(), 1);
  // A corrupt version 2: skipped, version 1 keeps serving.
  std::system(("mkdir -p " + t.models() + "/m/2").c_str());
  std::ofstream(t.models() + "/m/2/" + kModelFileName) << "garbage";
  t.server->registry()->Refresh();
  EXPECT_EQ(t.client->GetModel(Spec("m"))->model().version(), 1);
  EXPECT_EQ(CodeOf(t.client->GetModel(Spec("m", 2)).status()), absl::StatusCode::kNotFound);
  // ... and counted where operators alert on it.
  EXPECT_THAT(t.server->metrics()->Scrape(),
              ::testing::HasSubstr("strata_model_load_failures_total{model=\"m\"} 1"));
}

TEST(StrataServerTest, BadInputGetsExactCodesAndMessages) {
  TestServer t("server_bad_input", [](StrataServer::Options* o) { o->max_request_rows = 10; });
  t.Publish("m", *testing::SmallModel());
  auto encode = [&](const v1::ModelSpec& spec, const v1::DenseMatrix& rows, int layer = 0) {
    v1::EncodeRequest r;
    *r.mutable_model() = spec;
    *r.mutable_rows() = rows;
    r.set_layer(layer);
    return t.client->Encode(r).status();
  };
  const v1::DenseMatrix good = Dense(testing::GaussianMatrix(3, 6, 1));
  auto expect = [](const absl::Status& s, absl::StatusCode code, const std::string& text) {
    EXPECT_EQ(s.code(), code) << s;
    EXPECT_THAT(s.message(), HasSubstr(text));
  };
  expect(encode(Spec("nope"), good), absl::StatusCode::kNotFound, "model 'nope' is not served");
  expect(encode(Spec("m", 7), good), absl::StatusCode::kNotFound, "version 7 is not served");
  v1::ModelSpec labelled = Spec("m");
  labelled.set_label("gold");
  expect(encode(labelled, good), absl::StatusCode::kNotFound, "no label 'gold'");
  expect(encode(Spec("m"), Dense(testing::GaussianMatrix(3, 5, 1))),
         absl::StatusCode::kInvalidArgument, "expected 6 columns");
  Matrix nan = testing::GaussianMatrix(3, 6, 1);
  nan(1, 2) = std::nanf("");
  expect(encode(Spec("m"), Dense(nan)), absl::StatusCode::kInvalidArgument,
         "row 1, column 2: value is NaN");
  nan(1, 2) = std::numeric_limits<float>::infinity();
  expect(encode(Spec("m"), Dense(nan)), absl::StatusCode::kInvalidArgument, "infinite");
  expect(encode(Spec("m"), v1::DenseMatrix()), absl::StatusCode::kInvalidArgument,
         "the batch is empty");
  expect(encode(Spec("m"), Dense(testing::GaussianMatrix(11, 6, 1))),
         absl::StatusCode::kInvalidArgument, "11 rows exceed the limit of 10");
  v1::DenseMatrix short_values = good;
  short_values.mutable_values()->RemoveLast();
  expect(encode(Spec("m"), short_values), absl::StatusCode::kInvalidArgument,
         "need 18 values, got 17");
  expect(encode(Spec("m"), good, 3), absl::StatusCode::kInvalidArgument, "layer 3 does not exist");
  // Column names, when sent, must be the model's, in its order.
  v1::DenseMatrix named = good;
  for (const char* n : {"f0", "f1", "f2", "f3", "f4", "f5"}) named.add_column_names(n);
  EXPECT_TRUE(encode(Spec("m"), named).ok());
  named.mutable_column_names()->SwapElements(0, 1);
  expect(encode(Spec("m"), named), absl::StatusCode::kInvalidArgument,
         "column 0 is 'f1' where the model has 'f0'");
  named.mutable_column_names()->RemoveLast();
  expect(encode(Spec("m"), named), absl::StatusCode::kInvalidArgument, "5 names for 6 columns");
  expect(encode(Spec(""), good), absl::StatusCode::kInvalidArgument, "model.name is required");

  v1::AnomalyScoreRequest score;
  *score.mutable_model() = Spec("m");
  *score.mutable_rows() = good;
  score.mutable_options()->set_metric(static_cast<v1::ScoreOptions::Metric>(9));
  expect(t.client->AnomalyScore(score).status(), absl::StatusCode::kInvalidArgument,
         "options.metric");
  // Finite values so large that the model overflows (found by the request
  // fuzzer: they used to reach the percentile lookup as NaN and crash it).
  Matrix huge = testing::GaussianMatrix(3, 6, 8);
  huge(2, 4) = 3e38f;
  v1::AnomalyScoreRequest overflow;
  *overflow.mutable_model() = Spec("m");
  *overflow.mutable_rows() = Dense(huge);
  expect(t.client->AnomalyScore(overflow).status(), absl::StatusCode::kInvalidArgument,
         "row 2: the model's output is not finite for this row (column 4");
  expect(encode(Spec("m"), Dense(huge)), absl::StatusCode::kInvalidArgument, "row 2");
  // A bad message in a stream ends it with the message's index.
  int sent = 0;
  const absl::Status stream = t.client->StreamAnomalyScore(
      [&](v1::AnomalyScoreRequest* r) {
        if (sent == 3) return false;
        *r->mutable_model() = Spec("m");
        *r->mutable_rows() = sent == 1 ? Dense(nan) : good;
        ++sent;
        return true;
      },
      [](const v1::AnomalyScoreResponse&) {});
  expect(stream, absl::StatusCode::kInvalidArgument,
         "stream message 1 (rows 3 to 5 of the stream, counting from 0): rows: row 1, column 2");

  expect(t.client->GetTrainJob("missing").status(), absl::StatusCode::kNotFound, "no train job");
  expect(t.client->SetLabel("m", "stable", 4).status(), absl::StatusCode::kNotFound,
         "no version 4 in the store");
  expect(t.client->SetLabel("m", "a/b", 1).status(), absl::StatusCode::kInvalidArgument, "label");
  v1::SubmitTrainJobRequest submit;
  submit.mutable_spec()->set_model_name("../up");
  *submit.mutable_rows() = good;
  expect(t.client->SubmitTrainJob(submit).status(), absl::StatusCode::kInvalidArgument,
         "spec.model_name");
  submit.mutable_spec()->set_model_name("ok");
  submit.clear_rows();
  expect(t.client->SubmitTrainJob(submit).status(), absl::StatusCode::kInvalidArgument,
         "neither rows nor csv_path");
  submit.set_csv_path("x.csv");
  auto no_root =
      TestServer("server_no_data_root", [](StrataServer::Options* o) { o->data_root.clear(); });
  expect(no_root.client->SubmitTrainJob(submit).status(), absl::StatusCode::kFailedPrecondition,
         "--data_root");
  // An upload whose first message is not a spec.
  grpc::ClientContext context;
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", t.server->port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = v1::TrainingService::NewStub(channel);
  v1::TrainJob job;
  auto writer = stub->UploadTrainJob(&context, &job);
  v1::UploadTrainJobRequest chunk;
  *chunk.mutable_chunk() = good;
  writer->Write(chunk);
  writer->WritesDone();
  const grpc::Status upload = writer->Finish();
  EXPECT_EQ(upload.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(upload.error_message(), HasSubstr("first message must carry the spec"));
  // The server is still fine.
  EXPECT_TRUE(encode(Spec("m"), good).ok());
}

// Issue 14: a model name or label over the limit is INVALID_ARGUMENT from
// the server, not RESOURCE_EXHAUSTED from the client's 8 KiB limit on the
// response metadata that carries an error message echoing the name.
TEST(StrataServerTest, OverlongNamesAreInvalidAndNoErrorOutgrowsTheMetadataLimit) {
  TestServer t("server_long_names");
  t.Publish("m", *testing::SmallModel());
  const std::string name(10000, 'a');
  const v1::DenseMatrix good = Dense(testing::GaussianMatrix(3, 6, 1));
  auto expect = [](const absl::Status& s, absl::StatusCode code, const std::string& text) {
    EXPECT_EQ(s.code(), code) << s.message().substr(0, 200);
    EXPECT_THAT(std::string(s.message()), HasSubstr(text));
  };
  v1::EncodeRequest encode;
  *encode.mutable_model() = Spec(name);
  *encode.mutable_rows() = good;
  expect(t.client->Encode(encode).status(), absl::StatusCode::kInvalidArgument,
         "model name must have 1 to 128 characters");
  v1::ReconstructRequest reconstruct;
  *reconstruct.mutable_model() = Spec(name);
  *reconstruct.mutable_rows() = good;
  expect(t.client->Reconstruct(reconstruct).status(), absl::StatusCode::kInvalidArgument,
         "model name");
  v1::AnomalyScoreRequest score;
  *score.mutable_model() = Spec(name);
  *score.mutable_rows() = good;
  expect(t.client->AnomalyScore(score).status(), absl::StatusCode::kInvalidArgument, "model name");
  bool sent = false;
  expect(t.client->StreamAnomalyScore(
             [&](v1::AnomalyScoreRequest* r) {
               if (sent) return false;
               *r = score;
               return sent = true;
             },
             [](const v1::AnomalyScoreResponse&) {}),
         absl::StatusCode::kInvalidArgument, "model name");
  expect(t.client->GetModel(Spec(name)).status(), absl::StatusCode::kInvalidArgument, "model name");
  expect(t.client->DriftReport(Spec(name)).status(), absl::StatusCode::kInvalidArgument,
         "model name");
  expect(t.client->SetLabel(name, "stable", 1).status(), absl::StatusCode::kInvalidArgument,
         "model name");
  v1::ModelSpec labelled = Spec("m");
  labelled.set_label(name);
  expect(t.client->GetModel(labelled).status(), absl::StatusCode::kInvalidArgument,
         "label must have 1 to 128 characters");
  // Messages that echo a long id are clipped to fit.
  for (const absl::Status& s :
       {t.client->GetTrainJob(name).status(), t.client->CancelTrainJob(name).status()}) {
    expect(s, absl::StatusCode::kNotFound, "no train job 'aaaa");
    EXPECT_LT(s.message().size(), 2000u);
  }
}

TEST(StrataServerTest, ShutdownLetsCallsInFlightFinishAndRefusesNewOnes) {
  // The first Encode is held once the server has read it: in flight for as
  // long as the test needs, whatever the machine's speed.
  testing::CallGate gate("/strata.v1.InferenceService/Encode",
                         testing::CallGate::Point::POST_RECV_MESSAGE);
  TestServer t("server_grace",
               [&](StrataServer::Options* o) { o->interceptors_for_test = gate.Interceptors(); });
  absl::Cleanup open_gate = [&] { gate.Open(); };
  t.Publish("m", *testing::SmallModel());
  v1::EncodeRequest encode;
  *encode.mutable_model() = Spec("m");
  *encode.mutable_rows() = Dense(testing::GaussianMatrix(1, 6, 1));
  absl::StatusOr<v1::EncodeResponse> in_flight = absl::UnknownError("not run");
  std::thread caller([&] { in_flight = t.client->Encode(encode); });
  const bool held = gate.WaitUntilHeld();
  std::atomic<bool> shutdown_returned{false};
  std::thread stopper([&] {
    t.server->Shutdown(absl::Now() + absl::Seconds(60));
    shutdown_returned = true;
  });
  // Calls made before the shutdown takes hold are answered; once it has,
  // they are refused. Call until one is (bounded). A call that races the
  // shutdown (the server has it, the client has not yet heard that the
  // server is going away) is cancelled by gRPC instead.
  absl::Status late;
  std::vector<absl::StatusCode> codes;
  for (int i = 0; i < 2000 && late.code() != absl::StatusCode::kUnavailable; ++i) {
    late = t.client->Encode(encode).status();
    if (codes.empty() || codes.back() != late.code()) codes.push_back(late.code());
  }
  const bool returned_early = shutdown_returned;
  gate.Open();
  caller.join();
  stopper.join();
  EXPECT_TRUE(held) << "the first call never reached the server";
  EXPECT_EQ(late.code(), absl::StatusCode::kUnavailable) << late;
  for (absl::StatusCode code : codes) {
    EXPECT_TRUE(code == absl::StatusCode::kOk || code == absl::StatusCode::kCancelled ||
                code == absl::StatusCode::kUnavailable)
        << absl::StatusCodeToString(code);
  }
  EXPECT_FALSE(returned_early) << "Shutdown returned with a call in flight";
  // The held call went on after the shutdown began, and was answered.
  ASSERT_TRUE(in_flight.ok()) << in_flight.status();
  EXPECT_EQ(in_flight->model().version(), 1);
  EXPECT_EQ(in_flight->features().rows(), 1);
}

TEST(StrataServerTest, HealthIsServedOverallAndPerService) {
  TestServer t("server_health");
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", t.server->port()),
                                     grpc::InsecureChannelCredentials());
  auto health = grpc::health::v1::Health::NewStub(channel);
  for (const char* service :
       {"", "strata.v1.InferenceService", "strata.v1.TrainingService", "strata.v1.ModelService"}) {
    grpc::ClientContext context;
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    ASSERT_TRUE(health->Check(&context, request, &response).ok()) << service;
    EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING) << service;
  }
  t.server->Shutdown(absl::Now());
  grpc::ClientContext context;
  grpc::health::v1::HealthCheckResponse response;
  EXPECT_FALSE(health->Check(&context, {}, &response).ok());  // refused after shutdown
}

}  // namespace
}  // namespace strata

namespace strata {
namespace {

// Scores `rows` through the stream in batches, as a pipeline would.
void StreamRows(TestServer& t, const std::string& model, const Matrix& rows) {
  Eigen::Index start = 0;
  const absl::Status s = t.client->StreamAnomalyScore(
      [&](v1::AnomalyScoreRequest* r) {
        if (start >= rows.rows()) return false;
        if (start == 0) r->mutable_model()->set_name(model);
        const Eigen::Index n = std::min<Eigen::Index>(500, rows.rows() - start);
        ToDenseMatrix(rows.middleRows(start, n), r->mutable_rows());
        start += n;
        return true;
      },
      [](const v1::AnomalyScoreResponse&) {});
  ASSERT_TRUE(s.ok()) << s;
}

TEST(StrataServerTest, DriftReportFindsTheShiftedFeature) {
  // Each model gets its own window: in-distribution and shifted traffic.
  TestServer t("server_drift", [](StrataServer::Options* o) {
    o->metrics_address = "127.0.0.1:0";
    o->drift_max_features = 3;
  });
  const Matrix data = testing::ManifoldData(4000, 6, 2, 11);
  v1::TrainJobSpec spec;
  spec.mutable_config()->set_finetune_epochs(10);
  for (const char* f : {"temp", "pressure", "flow", "rpm", "vibration", "load"}) {
    spec.add_feature_names(f);
  }
  for (const char* name : {"calm", "shifted"}) {
    spec.set_model_name(name);
    auto job = t.client->UploadTrainJob(spec, data.data(), data.rows(), 6);
    ASSERT_TRUE(job.ok()) << job.status();
    ASSERT_EQ(WaitForJob(t, job->id()).state(), v1::TrainJob::SUCCEEDED);
  }
  // Nothing seen yet: no drift score on /metrics (a 0 would read as stable).
  const std::string unseen = t.server->metrics()->Scrape();
  EXPECT_THAT(unseen, HasSubstr("strata_drift_window_records{model=\"calm\",version=\"1\"} 0"));
  EXPECT_THAT(unseen, Not(HasSubstr("strata_drift_score{model=\"calm\"")));
  // Fresh records from the same distribution, and the same records with
  // "flow" moved by 2 training standard deviations.
  const Matrix live = testing::ManifoldData(3000, 6, 2, 11);
  Matrix shifted = live;
  const double mean = data.col(2).mean();
  const double std = std::sqrt((data.col(2).array() - mean).square().mean());
  shifted.col(2).array() += static_cast<float>(2 * std);
  StreamRows(t, "calm", live);
  StreamRows(t, "shifted", shifted);

  v1::ModelSpec calm_spec;
  calm_spec.set_name("calm");
  auto calm = t.client->DriftReport(calm_spec);
  ASSERT_TRUE(calm.ok()) << calm.status();
  EXPECT_EQ(calm->figures().window_rows(), 3000);
  ASSERT_EQ(calm->figures().features_size(), 6);
  for (const v1::FeatureDrift& f : calm->figures().features()) {
    EXPECT_LT(f.psi(), 0.1) << f.name();
  }
  EXPECT_EQ(calm->figures().error_rows(), 3000);
  EXPECT_NEAR(calm->figures().anomaly_ratio(), 0.01, 0.015);

  v1::ModelSpec shifted_spec;
  shifted_spec.set_name("shifted");
  auto drift = t.client->DriftReport(shifted_spec);
  ASSERT_TRUE(drift.ok()) << drift.status();
  const v1::FeatureDrift& top = drift->figures().features(0);
  EXPECT_EQ(top.name(), "flow");
  EXPECT_GT(top.psi(), 0.25);
  EXPECT_NEAR(top.mean_shift(), 2.0, 0.15);
  EXPECT_LT(drift->figures().features(1).psi(), 0.1);
  EXPECT_GT(drift->figures().drift_score(), 0.25);
  // Scoring traffic feeds the code layer too: calm codes barely move.
  EXPECT_EQ(calm->figures().code_rows(), 3000);
  EXPECT_LT(calm->figures().code_drift_max(), 0.2);
  EXPECT_GT(drift->figures().code_drift_max(), calm->figures().code_drift_max());

  // The same figures on /metrics, with at most 3 features per version.
  const std::string scraped = t.server->metrics()->Scrape();
  EXPECT_THAT(scraped,
              HasSubstr("strata_feature_psi{model=\"shifted\",version=\"1\",feature=\"flow\"}"));
  EXPECT_THAT(scraped, HasSubstr("strata_drift_score{model=\"shifted\",version=\"1\"}"));
  EXPECT_THAT(scraped,
              HasSubstr("strata_reconstruction_error_bucket{model=\"calm\",version=\"1\""));
  EXPECT_THAT(scraped, HasSubstr("strata_rpc_requests_total{code=\"OK\",method="
                                 "\"StreamAnomalyScore\",model=\"shifted\",version=\"1\"} 6"));
  EXPECT_THAT(scraped, HasSubstr("strata_train_jobs{state=\"SUCCEEDED\"} 2"));
  EXPECT_THAT(scraped,
              HasSubstr("strata_rpc_requests_total{code=\"OK\",method=\"UploadTrainJob\""));
  EXPECT_THAT(scraped, HasSubstr("strata_model_versions_loaded{model=\"calm\"} 1"));
  size_t psi_series = 0;
  for (size_t at = scraped.find("\nstrata_feature_psi{"); at != std::string::npos;
       at = scraped.find("\nstrata_feature_psi{", at + 1)) {
    ++psi_series;
  }
  EXPECT_EQ(psi_series, 6u);  // 3 features x 2 versions
  // Fleet counters for the first 3 features in input order: temp, pressure
  // and flow, each bin counting every streamed record once.
  size_t bin_series = 0;
  double flow_records = 0;
  const std::string flow_prefix =
      "\nstrata_drift_bin_records_total{model=\"shifted\",version=\"1\",feature=\"flow\"";
  for (size_t at = scraped.find("\nstrata_drift_bin_records_total{"); at != std::string::npos;
       at = scraped.find("\nstrata_drift_bin_records_total{", at + 1)) {
    ++bin_series;
    if (scraped.compare(at, flow_prefix.size(), flow_prefix) == 0) {
      flow_records += std::stod(scraped.substr(scraped.find("} ", at) + 2));
    }
  }
  EXPECT_GT(bin_series, 2u * 3u);
  EXPECT_LE(bin_series, 2u * 3u * 10u);
  EXPECT_EQ(flow_records, 3000);
  EXPECT_THAT(scraped, HasSubstr("strata_drift_records_total{model=\"calm\",version=\"1\"} 3000"));
  EXPECT_THAT(scraped, HasSubstr("strata_drift_bin_training_share{model=\"calm\",version=\"1\","
                                 "feature=\"temp\",bin=\"0\"} "));
  EXPECT_THAT(scraped, Not(HasSubstr("feature=\"rpm\",bin=")));
  EXPECT_GT(t.server->metrics_port(), 0);

  // A model version without a drift baseline answers FAILED_PRECONDITION;
  // unknown ones NOT_FOUND.
  calm_spec.set_version(9);
  EXPECT_EQ(t.client->DriftReport(calm_spec).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace strata
