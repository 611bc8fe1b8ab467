#include "core/scoring/ensemble_score.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>

#include "core/model/model_io.h"
#include "core/scoring/anomaly.h"
#include "core/scoring/isolation_forest.h"
#include "core/train/train_config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/synthetic_data.h"
#include "tests/testing/test_models.h"

namespace strata {
namespace {

using ::testing::HasSubstr;

v1::FeatureTails Tails(int knots, std::vector<float> values, std::vector<bool> left) {
  v1::FeatureTails t;
  t.set_knots_per_feature(knots);
  for (float v : values) t.add_knots(v);
  for (bool l : left) t.add_left_skewed(l);
  return t;
}

TEST(EnsembleScoreTest, FeatureTailScoresAreTheTailSharesWorkedOutByHand) {
  // Feature 0: knots 0 1 2 3, right-skewed; feature 1: 0 0 0 10, left.
  const v1::FeatureTails t = Tails(4, {0, 1, 2, 3, 0, 0, 0, 10}, {false, true});
  Matrix x(2, 2);
  x << 2.5f, -1.0f,  //
      1.0f, 0.0f;
  const Eigen::VectorXf s = FeatureTailIndex::Create(t, 2)->Scores(x);
  // Row 0: L = (3+1)/5, 1/5; R = (1+1)/5, 5/5. Left sum log(5/4)+log 5,
  // right log(5/2), chosen (R, L) log(5/2)+log 5: the largest.
  EXPECT_NEAR(s(0), std::log(2.5) + std::log(5.0), 1e-5);
  // Row 1: L = 3/5, 4/5; R = 4/5, 5/5. Left log(5/3)+log(5/4) is largest.
  EXPECT_NEAR(s(1), std::log(5.0 / 3) + std::log(5.0 / 4), 1e-5);
}

TEST(EnsembleScoreTest, FitFeatureTailsKeepsEvenlySpacedOrderStatisticsAndTheSkew) {
  Matrix x(7, 2);
  x.col(0) << 6, 5, 4, 3, 2, 1, 0;
  x.col(1) << -10, 0, 0, 0, 1, 1, 1;  // a long left tail
  const v1::FeatureTails t = FitFeatureTails(x);
  ASSERT_EQ(t.knots_per_feature(), 7);
  EXPECT_THAT(t.knots(), ::testing::ElementsAre(0, 1, 2, 3, 4, 5, 6, -10, 0, 0, 0, 1, 1, 1));
  EXPECT_THAT(t.left_skewed(), ::testing::ElementsAre(false, true));
  EXPECT_TRUE(ValidateFeatureTails(t, 2).ok());

  Matrix many(3000, 1);
  for (int r = 0; r < 3000; ++r) many(r, 0) = static_cast<float>(2999 - r);
  const v1::FeatureTails big = FitFeatureTails(many);
  ASSERT_EQ(big.knots_per_feature(), kMaxTailKnots);
  EXPECT_EQ(big.knots(0), 0);
  EXPECT_EQ(big.knots(kMaxTailKnots - 1), 2999);
  EXPECT_EQ(big.knots(1), std::round(2999.0 / (kMaxTailKnots - 1)));
}

// The index's scores of `x` against plain counts over every knot.
void ExpectPlainCounts(const v1::FeatureTails& t, const Matrix& x) {
  const int k = t.knots_per_feature();
  absl::StatusOr<FeatureTailIndex> index = FeatureTailIndex::Create(t, static_cast<int>(x.cols()));
  ASSERT_TRUE(index.ok()) << index.status();
  const Eigen::VectorXf s = index->Scores(x);
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    double left = 0, right = 0, chosen = 0;
    for (Eigen::Index j = 0; j < x.cols(); ++j) {
      int le = 0, ge = 0;
      for (int i = 0; i < k; ++i) {
        le += t.knots(static_cast<int>(j) * k + i) <= x(r, j);
        ge += t.knots(static_cast<int>(j) * k + i) >= x(r, j);
      }
      const double l = -std::log((le + 1.0) / (k + 1)), rt = -std::log((ge + 1.0) / (k + 1));
      left += l;
      right += rt;
      chosen += t.left_skewed(static_cast<int>(j)) ? l : rt;
    }
    EXPECT_NEAR(s(r), std::max({left, right, chosen}), 1e-4) << "row " << r;
  }
}

TEST(EnsembleScoreTest, FeatureTailScoresMatchPlainCountsOnManyKnotsAndTies) {
  // 1,000 knots (not a multiple of the 32-knot blocks), one feature with
  // many ties; values inside, on block ends and starts (knots 31 and 32 of
  // feature 0 are 15.5 and 16), on and beyond the knots, and infinite.
  Matrix train(1000, 2);
  for (int r = 0; r < 1000; ++r) {
    train(r, 0) = static_cast<float>(r) * 0.5f;
    train(r, 1) = static_cast<float>(r % 7);
  }
  const v1::FeatureTails t = FitFeatureTails(train);
  ASSERT_EQ(t.knots_per_feature(), 1000);
  constexpr float kInf = std::numeric_limits<float>::infinity();
  Matrix x(9, 2);
  x << -1, -1, 0, 0, 15.5f, 3, 16, 2, 250.25f, 3.5f, 499.5f, 6, 900, 9, kInf, kInf, -kInf, -kInf;
  ExpectPlainCounts(t, x);
  // 1,024 knots: whole blocks, the most there are.
  Matrix many(3000, 1);
  for (int r = 0; r < 3000; ++r) many(r, 0) = static_cast<float>(r % 100);
  const v1::FeatureTails big = FitFeatureTails(many);
  ASSERT_EQ(big.knots_per_feature(), kMaxTailKnots);
  Matrix y(6, 1);
  y << -1, 0, 31, 50.5f, 99, 100;
  ExpectPlainCounts(big, y);
}

TEST(EnsembleScoreTest, TheTailIndexRefusesTailsThatDoNotFitTheModel) {
  const v1::FeatureTails t = Tails(2, {0, 1, 1, 0}, {false, false});
  absl::StatusOr<FeatureTailIndex> index = FeatureTailIndex::Create(t, 2);
  EXPECT_EQ(index.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(index.status().message(), HasSubstr("knots of feature 1 are not ascending"));
  EXPECT_FALSE(FeatureTailIndex::Create(Tails(2, {0, 1}, {false}), 2).ok());
}

TEST(EnsembleScoreTest, CodeSpreadIsTheSquaredDistanceFromTheCentrePerUnit) {
  const std::vector<float> centre = {1, 2};
  Matrix z(1, 2);
  z << 4, 6;
  EXPECT_FLOAT_EQ(CodeSpreads(centre, z)(0), (9 + 16) / 2.0f);
}

// Two networks with 1-unit codes, one feature: every term by hand.
v1::EnsembleCalibration HandCalibration() {
  v1::EnsembleCalibration e;
  v1::CodeGaussian* g0 = e.add_codes();
  g0->add_mean(0);
  g0->add_precision(4);
  v1::CodeGaussian* g1 = e.add_codes();
  g1->add_mean(1);
  g1->add_precision(1);
  e.add_spread_scales(1);
  e.add_spread_scales(2);
  // Not the Gaussians' means: the spread is measured from these.
  e.add_spread_centres(0.5f);
  e.add_spread_centres(2);
  *e.mutable_tails() = Tails(2, {0, 1}, {false});
  e.set_tail_scale(2);
  e.mutable_scores()->set_threshold(3);
  e.mutable_scores()->add_quantiles(0);
  e.mutable_scores()->add_quantiles(3);
  return e;
}

TEST(EnsembleScoreTest, ScoreIsTheMeanOverNetworksPlusTheTailTermByHand) {
  const v1::EnsembleCalibration e = HandCalibration();
  ASSERT_TRUE(ValidateEnsembleCalibration(e, 2, 1, 1).ok());
  const Matrix z0 = Matrix::Constant(1, 1, 1), z1 = Matrix::Constant(1, 1, 3);
  const Matrix x = Matrix::Constant(1, 1, 5);
  // Network 0: D = 4 * (1-0)^2 = 4, S = (1-0.5)^2 = 0.25 (scale 1). Network
  // 1: D = (3-1)^2 = 4, S = (3-2)^2 = 1 (scale 2). Tail: 5 is above both
  // knots, R = 1/3, T = log 3.
  const double networks =
      (std::log1p(4.0) + std::log1p(0.25) + std::log1p(4.0) + std::log1p(0.5)) / 2;
  const double expected = networks + std::log1p(std::log(3.0) / 2);
  EXPECT_NEAR(EnsembleScores(e, *FeatureTailIndex::Create(e.tails(), 1), {z0, z1}, x)(0), expected, 1e-5);
}

// One tree on a sample of 4 over one feature: x < 0.5 is a leaf of one
// row, else x < 2 a leaf of two, else a leaf of one.
v1::IsolationForest HandForest() {
  v1::IsolationForest f;
  f.set_sample_size(4);
  f.add_tree_starts(0);
  for (auto [feature, threshold, right] :
       {std::tuple{0, 0.5f, 2}, {-1, 0.f, 1}, {0, 2.f, 4}, {-1, 0.f, 2}, {-1, 0.f, 1}}) {
    f.add_feature(feature);
    f.add_threshold(threshold);
    f.add_right(right);
  }
  return f;
}

TEST(EnsembleScoreTest, WithAForestTheScoreAveragesBothFamiliesInTrainingDeviationsByHand) {
  v1::EnsembleCalibration e = HandCalibration();
  EXPECT_FALSE(HasIsolationForest(e));
  *e.mutable_forest() = HandForest();
  e.set_networks_mean(2);
  e.set_networks_std(0.5);
  e.set_forest_mean(0.4);
  e.set_forest_std(0.1);
  ASSERT_TRUE(HasIsolationForest(e));
  ASSERT_TRUE(ValidateEnsembleCalibration(e, 2, 1, 1).ok());
  const Matrix z0 = Matrix::Constant(1, 1, 1), z1 = Matrix::Constant(1, 1, 3);
  const Matrix x = Matrix::Constant(1, 1, 5);
  // E as in ScoreIsTheMeanOverNetworksPlusTheTailTermByHand. The forest:
  // 5 goes right twice, depth 2 into a leaf of one row: h = 2, c(4) =
  // 2 H(3) - 1.5 = 11/3 - 1.5, I = 2^(-2 / c(4)).
  const double networks =
      (std::log1p(4.0) + std::log1p(0.25) + std::log1p(4.0) + std::log1p(0.5)) / 2 +
      std::log1p(std::log(3.0) / 2);
  const double forest = std::exp2(-2 / (11.0 / 3 - 1.5));
  const double expected = ((networks - 2) / 0.5 + (forest - 0.4) / 0.1) / 2;
  EXPECT_NEAR(EnsembleScores(e, *FeatureTailIndex::Create(e.tails(), 1), {z0, z1}, x)(0),
              expected, 1e-5);
}

TEST(EnsembleScoreTest, ValidationChecksTheForestAndTheTrainingDeviations) {
  v1::EnsembleCalibration good = HandCalibration();
  *good.mutable_forest() = HandForest();
  good.set_networks_mean(2);
  good.set_networks_std(0.5);
  good.set_forest_mean(0.4);
  good.set_forest_std(0.1);
  const auto message = [](const v1::EnsembleCalibration& e) {
    const absl::Status s = ValidateEnsembleCalibration(e, 2, 1, 1);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    return std::string(s.message());
  };
  v1::EnsembleCalibration e = good;
  e.mutable_forest()->set_feature(2, 1);  // one feature only
  EXPECT_THAT(message(e), HasSubstr("isolation forest's tree 1 node 2 splits feature 1"));
  e = good;
  e.set_forest_std(0);
  EXPECT_THAT(message(e), HasSubstr("forest 0.4 and 0) are not finite with positive deviations"));
  e = good;
  e.set_networks_mean(std::nan(""));
  EXPECT_THAT(message(e), HasSubstr("networks nan and 0.5"));
}

TEST(EnsembleScoreTest, CalibrationsWithoutSpreadCentresMeasureFromTheGaussiansMeans) {
  v1::EnsembleCalibration e = HandCalibration();
  e.clear_spread_centres();
  ASSERT_TRUE(ValidateEnsembleCalibration(e, 2, 1, 1).ok());
  const Matrix z0 = Matrix::Constant(1, 1, 1), z1 = Matrix::Constant(1, 1, 3);
  const Matrix x = Matrix::Constant(1, 1, 5);
  // As before the centres: S = (1-0)^2 = 1 and (3-1)^2 = 4 (scale 2).
  const double networks =
      (std::log1p(4.0) + std::log1p(1.0) + std::log1p(4.0) + std::log1p(2.0)) / 2;
  EXPECT_NEAR(EnsembleScores(e, *FeatureTailIndex::Create(e.tails(), 1), {z0, z1}, x)(0), networks + std::log1p(std::log(3.0) / 2), 1e-5);
}

TEST(EnsembleScoreTest, ValidationNamesWhatIsWrong) {
  const v1::EnsembleCalibration good = HandCalibration();
  const auto message = [](const v1::EnsembleCalibration& e, int networks) {
    const absl::Status s = ValidateEnsembleCalibration(e, networks, 1, 1);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    return std::string(s.message());
  };
  EXPECT_THAT(message(good, 3), HasSubstr("2 code Gaussians and 2 spread scales for 3 networks"));
  v1::EnsembleCalibration e = good;
  e.mutable_codes(1)->add_mean(0);
  EXPECT_THAT(message(e, 2), HasSubstr("network 2 has 2 means"));
  e = good;
  e.set_spread_scales(0, 0);
  EXPECT_THAT(message(e, 2), HasSubstr("spread scale that is not positive"));
  e = good;
  e.add_spread_centres(0);
  EXPECT_THAT(message(e, 2), HasSubstr("3 spread centre values for 2 networks of 1-unit codes"));
  e = good;
  e.set_spread_centres(1, std::nanf(""));
  EXPECT_THAT(message(e, 2), HasSubstr("spread centre values"));
  e = good;
  e.mutable_tails()->set_knots(0, 2);
  EXPECT_THAT(message(e, 2), HasSubstr("knots of feature 0 are not ascending"));
  e = good;
  e.mutable_tails()->set_knots(1, std::nanf(""));
  EXPECT_THAT(message(e, 2), HasSubstr("non-finite knots"));
  e = good;
  e.mutable_tails()->clear_left_skewed();
  EXPECT_THAT(message(e, 2), HasSubstr("0 skew flags for 1 features"));
  e = good;
  e.set_tail_scale(std::nanf(""));
  EXPECT_THAT(message(e, 2), HasSubstr("tail scale"));
  e = good;
  e.mutable_scores()->set_quantiles(0, 5);
  EXPECT_THAT(message(e, 2), HasSubstr("not finite and ascending"));
}

TEST(EnsembleScoreTest, TrainingCalibratesEveryNetworkAndTheThreshold) {
  const std::unique_ptr<Model> model = testing::SmallModel(6, 3, 5);
  // 300 rows x 6 features: the default 5 networks.
  ASSERT_EQ(model->ensemble().size(), 4u);
  EXPECT_EQ(model->info().config.anomaly().ensemble_size(), 5);
  EXPECT_EQ(model->default_metric(), ScoreMetric::kEnsemble);
  const v1::AnomalyCalibration& c = model->info().calibration;
  ASSERT_EQ(c.ensemble().codes_size(), 5);
  // Network 0's Gaussian is the code distance's own.
  EXPECT_EQ(c.ensemble().codes(0).SerializeAsString(), c.code().SerializeAsString());
  // Each spread centre is the mean of its network's training codes.
  const Matrix train_rows = testing::ManifoldData(300, 6, 2, 3);
  const Matrix scaled_rows = model->scaler().Transform(train_rows);
  const int k = c.code().mean_size();
  ASSERT_EQ(c.ensemble().spread_centres_size(), 5 * k);
  for (int m = 0; m < 5; ++m) {
    const StackedAutoencoder& net = m == 0 ? model->autoencoder() : model->ensemble()[m - 1];
    const Eigen::RowVectorXf mean = net.Encode(scaled_rows, net.depth()).colwise().mean();
    for (int u = 0; u < k; ++u) {
      EXPECT_NEAR(c.ensemble().spread_centres(m * k + u), mean(u), 1e-4) << m << "," << u;
    }
  }
  // The networks differ (seeds seed + m), so their codes do.
  EXPECT_FALSE(model->ensemble()[0].parameters().weights[0].isApprox(
      model->autoencoder().parameters().weights[0]));
  // The threshold is the 99th percentile of the training rows' scores.
  const Matrix train = testing::ManifoldData(300, 6, 2, 3);
  const Matrix scored = *model->Score(train, ScoreMetric::kEnsemble);
  const int above = static_cast<int>((scored.col(6).array() > c.ensemble().scores().threshold()).count());
  EXPECT_GE(above, 1);
  EXPECT_LE(above, 3);
  // A row far outside the training data scores above it.
  Matrix far = train.topRows(1);
  far(0, 2) += 100;
  EXPECT_GT((*model->Score(far, ScoreMetric::kEnsemble))(0, 6), c.ensemble().scores().threshold());
}

// The codes of scaled rows under the model's network, then each of the
// ensemble's others, as Model::Score computes them.
std::vector<Matrix> EveryNetworksCodes(const Model& model, const Matrix& scaled) {
  std::vector<Matrix> codes = {model.autoencoder().Encode(scaled, model.depth())};
  for (const StackedAutoencoder& net : model.ensemble()) {
    codes.push_back(net.Encode(scaled, net.depth()));
  }
  return codes;
}

TEST(EnsembleScoreTest, TrainingGrowsTheForestAndStandardisesBothFamiliesOnTheTrainingRows) {
  const std::unique_ptr<Model> model = testing::SmallModel(6, 3, 5);
  const v1::EnsembleCalibration& e = model->info().calibration.ensemble();
  ASSERT_TRUE(HasIsolationForest(e));
  EXPECT_TRUE(ValidateIsolationForest(e.forest(), 6).ok());
  EXPECT_EQ(e.forest().sample_size(), kForestSampleSize);  // 300 training rows
  EXPECT_EQ(e.forest().tree_starts_size(), kForestTrees);
  // The same rows SmallModel trained on: each family's mean and deviation
  // over them are the calibration's (to float rounding of the scores,
  // summed in double in both).
  const Matrix train = testing::ManifoldData(300, 6, 2, 3);
  const Matrix scaled = model->scaler().Transform(train);
  v1::EnsembleCalibration without = e;
  without.clear_forest();
  const std::vector<Matrix> codes = EveryNetworksCodes(*model, scaled);
  const FeatureTailIndex tails = *FeatureTailIndex::Create(e.tails(), 6);
  const Eigen::ArrayXd networks = EnsembleScores(without, tails, codes, scaled).cast<double>();
  const Eigen::ArrayXd forest = IsolationScores(e.forest(), scaled).cast<double>();
  const auto std_of = [](const Eigen::ArrayXd& v) {
    return std::sqrt((v - v.mean()).square().mean());
  };
  EXPECT_NEAR(e.networks_mean(), networks.mean(), 1e-5 * std::abs(networks.mean()));
  EXPECT_NEAR(e.networks_std(), std_of(networks), 1e-4 * std_of(networks));
  EXPECT_NEAR(e.forest_mean(), forest.mean(), 1e-6);
  EXPECT_NEAR(e.forest_std(), std_of(forest), 1e-4 * std_of(forest));
  // Served: the average of the two in those units, so the training rows'
  // scores have mean 0.
  const Matrix scored = *model->Score(train, ScoreMetric::kEnsemble);
  for (int r : {0, 150, 299}) {
    const double expected = ((networks(r) - e.networks_mean()) / e.networks_std() +
                             (forest(r) - e.forest_mean()) / e.forest_std()) /
                            2;
    EXPECT_NEAR(scored(r, 6), expected, 1e-5) << "row " << r;
  }
  EXPECT_NEAR(scored.col(6).cast<double>().mean(), 0, 1e-4);
}

TEST(EnsembleScoreTest, ArtifactsFromBeforeTheForestLoadAndScoreAsBefore) {
  const std::unique_ptr<Model> model = testing::SmallModel(6, 2, 3);
  v1::ModelArtifact old = ModelToArtifact(*model);
  v1::EnsembleCalibration* e = old.mutable_calibration()->mutable_ensemble();
  e->clear_forest();
  e->clear_networks_mean();
  e->clear_networks_std();
  e->clear_forest_mean();
  e->clear_forest_std();
  auto loaded = ModelFromArtifact(old);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->default_metric(), ScoreMetric::kEnsemble);
  // Its score is the networks' and tails' sum alone (the formula
  // ScoreIsTheMeanOverNetworksPlusTheTailTermByHand checks), not the
  // standardised average the new artifact serves.
  const Matrix x = testing::ManifoldData(20, 6, 2, 9);
  const Matrix scaled = model->scaler().Transform(x);
  const std::vector<Matrix> codes = EveryNetworksCodes(*model, scaled);
  const Eigen::VectorXf before =
      EnsembleScores(*e, *FeatureTailIndex::Create(e->tails(), 6), codes, scaled);
  const Matrix old_scores = *(*loaded)->Score(x, ScoreMetric::kEnsemble);
  EXPECT_EQ(Eigen::VectorXf(old_scores.col(6)), before);
  EXPECT_NE(Eigen::VectorXf(model->Score(x, ScoreMetric::kEnsemble)->col(6)), before);
}

TEST(EnsembleScoreTest, OneNetworkStillHasTheScore) {
  Trainer::Options options;
  options.input_dim = 6;
  options.config.add_encoder_widths(2);
  options.config.set_finetune_epochs(2);
  options.config.mutable_anomaly()->set_ensemble_size(1);
  auto model = (*Trainer::Create(options))->Train(testing::ManifoldData(200, 6, 2, 1));
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_TRUE((*model)->ensemble().empty());
  EXPECT_EQ((*model)->default_metric(), ScoreMetric::kEnsemble);
  EXPECT_EQ((*model)->info().calibration.ensemble().codes_size(), 1);
}

TEST(EnsembleScoreTest, DefaultSizeFollowsTheTrainingValues) {
  EXPECT_EQ(DefaultEnsembleSize(1'000'000, 10), 5);  // exactly 10M values
  EXPECT_EQ(DefaultEnsembleSize(1'000'001, 10), 1);
  EXPECT_EQ(DefaultEnsembleSize(std::numeric_limits<int64_t>::max(), 65536), 1);
}

TEST(EnsembleScoreTest, EnsembleSizeOutOfRangeIsRefused) {
  Trainer::Options options;
  options.input_dim = 6;
  options.config.mutable_anomaly()->set_ensemble_size(17);
  auto trainer = Trainer::Create(options);
  ASSERT_FALSE(trainer.ok());
  EXPECT_THAT(trainer.status().message(), HasSubstr("anomaly.ensemble_size"));
}

TEST(EnsembleScoreTest, TheLoaderChecksTheEnsembleNetworksAgainstTheCalibration) {
  const v1::ModelArtifact good = ModelToArtifact(*testing::SmallModel(6, 1, 2));
  ASSERT_EQ(good.ensemble_size(), 4);
  const auto refused = [](const v1::ModelArtifact& a) {
    auto model = ModelFromArtifact(a);
    EXPECT_FALSE(model.ok());
    return model.ok() ? std::string() : std::string(model.status().message());
  };
  v1::ModelArtifact a = good;
  a.mutable_ensemble()->RemoveLast();
  EXPECT_THAT(refused(a), HasSubstr("5 code Gaussians and 5 spread scales for 4 networks"));
  a = good;
  a.mutable_ensemble(0)->mutable_encoder(0)->mutable_weights()->RemoveLast();
  EXPECT_THAT(refused(a), HasSubstr("ensemble network 2: encoder layer 1: 23 weights"));
  a = good;
  a.mutable_ensemble(1)->mutable_decoder()->RemoveLast();
  EXPECT_THAT(refused(a), HasSubstr("ensemble network 3 has 2 encoder and 1 decoder layers"));
  a = good;
  a.mutable_ensemble(2)->mutable_encoder(1)->set_weights(0, std::nanf(""));
  EXPECT_THAT(refused(a), HasSubstr("ensemble network 4 has non-finite parameters"));
  a = good;
  a.mutable_calibration()->mutable_ensemble()->mutable_spread_centres()->RemoveLast();
  EXPECT_THAT(refused(a), HasSubstr("9 spread centre values for 5 networks of 2-unit codes"));
  a = good;
  a.mutable_calibration()->mutable_ensemble()->mutable_tails()->set_knots(0, 1e9f);
  EXPECT_THAT(refused(a), HasSubstr("knots of feature 0 are not ascending"));
  a = good;
  a.mutable_calibration()->mutable_ensemble()->mutable_forest()->mutable_right()->RemoveLast();
  EXPECT_THAT(refused(a), HasSubstr("right children"));
  a = good;
  a.mutable_calibration()->mutable_ensemble()->mutable_forest()->set_feature(0, 6);
  EXPECT_THAT(refused(a), HasSubstr("tree 1 node 0 splits feature 6"));
  a = good;
  a.mutable_calibration()->mutable_ensemble()->set_forest_std(-1);
  EXPECT_THAT(refused(a), HasSubstr("not finite with positive deviations"));
}

TEST(EnsembleScoreTest, ArtifactsFromBeforeTheEnsembleLoadAndScoreAsBefore) {
  const std::unique_ptr<Model> model = testing::SmallModel(6, 2, 3);
  v1::ModelArtifact old = ModelToArtifact(*model);
  testing::DropEnsemble(&old);
  auto loaded = ModelFromArtifact(old);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->default_metric(), ScoreMetric::kCombined);
  const Matrix x = testing::ManifoldData(20, 6, 2, 9);
  for (ScoreMetric m : {ScoreMetric::kCombined, ScoreMetric::kMeanSquared,
                        ScoreMetric::kCodeDistance, ScoreMetric::kMeanAbsolute}) {
    EXPECT_EQ(*(*loaded)->Score(x, m), *model->Score(x, m)) << MetricName(m);
  }
  EXPECT_EQ((*loaded)->Score(x, ScoreMetric::kEnsemble).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace strata
