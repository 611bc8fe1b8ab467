// Inference over gRPC through an in-process server (server/inference_service.cc):
// Encode, Reconstruct, AnomalyScore and the score stream answer exactly as the
// core model does, with dynamic batching off and on; concurrent calls get
// their own answers; models from before code scores fall back to MSE.
#include <atomic>
#include <thread>

#include "core/model/model_io.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/server_requests.h"
#include "tests/testing/test_server.h"

namespace strata {
namespace {

using testing::Dense;
using testing::FromWire;
using ::testing::HasSubstr;
using testing::Spec;
using testing::TestServer;

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

}  // namespace
}  // namespace strata
