#include "core/scoring/drift.h"

#include <cmath>
#include <memory>
#include <thread>

#include "core/train/trainer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/synthetic_data.h"

namespace strata {
namespace {

using ::testing::ElementsAre;

TEST(DriftMathTest, QuantileBinEdgesByHand) {
  std::vector<float> v;
  for (int i = 1; i <= 100; ++i) v.push_back(static_cast<float>(i));
  // Nearest rank: the 25th, 50th and 75th of 100 values.
  EXPECT_THAT(QuantileBinEdges(v, 4), ElementsAre(25.0f, 50.0f, 75.0f));
  // 1..10 in 3 bins: ranks ceil(10/3) = 4 and ceil(20/3) = 7.
  std::vector<float> ten;
  for (int i = 1; i <= 10; ++i) ten.push_back(static_cast<float>(11 - i));  // unsorted
  EXPECT_THAT(QuantileBinEdges(ten, 3), ElementsAre(4.0f, 7.0f));
  EXPECT_EQ(QuantileBinEdges(v, 10).size(), 9u);
  // Ties merge: a 0/1 feature has one edge, whatever the bins asked for.
  std::vector<float> binary(90, 0.0f);
  binary.resize(100, 1.0f);
  EXPECT_THAT(QuantileBinEdges(binary, 10), ElementsAre(0.0f));
  EXPECT_TRUE(QuantileBinEdges(std::vector<float>(50, 3.0f), 10).empty());  // constant
}

TEST(DriftMathTest, BinIndexCountsEdgesBelow) {
  const float edges[] = {1, 2, 3};
  EXPECT_EQ(BinIndex(edges, 3, 0.5f), 0);
  EXPECT_EQ(BinIndex(edges, 3, 1.0f), 0);  // an edge belongs to the bin below it
  EXPECT_EQ(BinIndex(edges, 3, 1.5f), 1);
  EXPECT_EQ(BinIndex(edges, 3, 3.0f), 2);
  EXPECT_EQ(BinIndex(edges, 3, 9.0f), 3);
  EXPECT_EQ(BinIndex(edges, 0, 9.0f), 0);
}

TEST(DriftMathTest, PopulationStabilityIndexByHand) {
  // (0.25 - 0.5) ln(0.25 / 0.5) + (0.75 - 0.5) ln(0.75 / 0.5)
  EXPECT_NEAR(PopulationStabilityIndex({0.5, 0.5}, {0.25, 0.75}),
              0.25 * std::log(2.0) + 0.25 * std::log(1.5), 1e-12);
  EXPECT_EQ(PopulationStabilityIndex({0.2, 0.3, 0.5}, {0.2, 0.3, 0.5}), 0.0);
  // Empty bins are floored at 1e-4: finite, and large.
  EXPECT_NEAR(PopulationStabilityIndex({1, 0}, {0, 1}), 2 * (1 - 1e-4) * std::log(1e4), 1e-9);
}

class DriftMonitorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_ = new Matrix(testing::ManifoldData(4000, 6, 2, 3));
    Trainer::Options options;
    options.input_dim = 6;
    options.config.add_encoder_widths(4);
    options.config.add_encoder_widths(2);
    options.config.set_finetune_epochs(15);
    options.feature_names = {"a", "b", "c", "d", "e", "f"};
    model_ = (*(*Trainer::Create(options))->Train(*data_)).release();
  }
  static void TearDownTestSuite() {
    delete model_;
    delete data_;
  }
  DriftMonitor Monitor(int64_t window) {
    return DriftMonitor(model_->info().drift_baseline, model_->scaler(),
                        model_->info().feature_names, model_->info().calibration, window);
  }
  static Matrix* data_;
  static Model* model_;
};
Matrix* DriftMonitorTest::data_ = nullptr;
Model* DriftMonitorTest::model_ = nullptr;

TEST_F(DriftMonitorTest, BaselineDescribesTheTrainingRows) {
  const v1::DriftBaseline& b = model_->info().drift_baseline;
  ASSERT_EQ(b.features_size(), 6);
  for (const v1::FeatureBaseline& f : b.features()) {
    EXPECT_EQ(f.bin_edges_size(), 9);
    double total = 0;
    for (double p : f.proportions()) {
      total += p;
      EXPECT_NEAR(p, 0.1, 0.01);  // equal-frequency bins
    }
    EXPECT_NEAR(total, 1.0, 1e-9);
    EXPECT_NEAR(f.mean(), 0.0, 1e-3);  // standard scaling
    EXPECT_NEAR(f.std(), 1.0, 1e-3);
  }
  EXPECT_EQ(b.code().mean_size(), 2);
  // Every 2nd of the 4,000 rows (at most 2,000): its code and its MSE.
  ASSERT_EQ(b.code().sample_rows(), 2000);
  ASSERT_EQ(b.code().sample_size(), 4000);
  ASSERT_EQ(b.code().sample_errors_size(), 2000);
  EXPECT_EQ(b.code().sample_classes_size(), 0);  // no class labels
  // Wide codes keep fewer rows: at most 2^18 values.
  EXPECT_EQ(CodeSampleStride(4000, 2), 2);
  EXPECT_EQ(CodeSampleStride(1000, 2), 1);
  EXPECT_EQ(CodeSampleStride(0, 2), 1);
  EXPECT_EQ(CodeSampleStride(100000, 200), 77);  // 1,310 rows of 200 units
  const Matrix row = data_->middleRows(2 * 3, 1);
  const Matrix code = *model_->Encode(row, 2);
  EXPECT_NEAR(b.code().sample(2 * 3), code(0, 0), 1e-5);
  EXPECT_NEAR(b.code().sample(2 * 3 + 1), code(0, 1), 1e-5);
  EXPECT_NEAR(b.code().sample_errors(3),
              model_->FeatureErrors(row, ScoreMetric::kMeanSquared)->mean(), 1e-6);
  const v1::ErrorBaseline& e = b.reconstruction_error();
  EXPECT_LE(e.p50(), e.p95());
  EXPECT_LE(e.p95(), e.max());
  EXPECT_NEAR(b.expected_anomaly_ratio(), 0.01, 1e-12);
}

TEST_F(DriftMonitorTest, InDistributionStaysStableAndAShiftedFeatureLeads) {
  const Matrix rows = data_->topRows(3000);
  const Matrix errors = *model_->FeatureErrors(rows, ScoreMetric::kMeanSquared);
  const Eigen::VectorXf mse = errors.rowwise().mean();
  const Matrix codes = *model_->Encode(rows, 2);
  DriftMonitor same = Monitor(10000);
  same.Observe(rows, &mse, &codes);
  const v1::DriftFigures calm = same.Figures();
  EXPECT_EQ(calm.window_rows(), 3000);
  for (const v1::FeatureDrift& f : calm.features()) EXPECT_LT(f.psi(), 0.1) << f.name();
  EXPECT_LT(calm.drift_score(), 0.1);
  EXPECT_LT(calm.code_drift_max(), 0.2);
  EXPECT_NEAR(calm.anomaly_ratio(), 0.01, 0.01);

  // Feature c moves by 2 training standard deviations.
  Matrix shifted = rows;
  const float std_c = model_->scaler().scale()(2);  // standard scaler: scale = std
  shifted.col(2).array() += 2 * std_c;
  DriftMonitor moved = Monitor(10000);
  const Eigen::VectorXf shifted_mse =
      model_->FeatureErrors(shifted, ScoreMetric::kMeanSquared)->rowwise().mean();
  moved.Observe(shifted, &shifted_mse, nullptr);
  const v1::DriftFigures drift = moved.Figures();
  ASSERT_EQ(drift.features_size(), 6);
  EXPECT_EQ(drift.features(0).name(), "c");
  EXPECT_GT(drift.features(0).psi(), 0.25);
  EXPECT_NEAR(drift.features(0).mean_shift(), 2.0, 0.1);
  EXPECT_GT(drift.features(0).out_of_range_ratio(), 0.01);
  EXPECT_LT(drift.features(1).psi(), 0.1);
  EXPECT_GT(drift.drift_score(), 0.25);
  EXPECT_GT(drift.error_mean(), calm.error_mean());
  EXPECT_EQ(drift.code_rows(), 0);
}

TEST_F(DriftMonitorTest, AnomalyRatioCountsWhatAnomalyScoreFlags) {
  // Rows scored with their codes count by the default score, COMBINED, as
  // AnomalyScore's is_anomaly does; without codes, by MSE.
  Matrix rows = data_->topRows(2000);
  rows.topRows(300).col(1).array() += 3 * model_->scaler().scale()(1);
  const Matrix scored = *model_->Score(rows, ScoreMetric::kCombined);
  const Eigen::VectorXf mse = scored.leftCols(6).rowwise().mean();
  const Matrix codes = *model_->Encode(rows, 2);
  const v1::AnomalyCalibration& c = model_->info().calibration;
  const double by_combined =
      (scored.col(6).array() > c.combined().threshold()).cast<double>().mean();
  const double by_mse = (mse.array() > c.mean_squared().threshold()).cast<double>().mean();
  ASSERT_NE(by_combined, by_mse);  // the two definitions differ on these rows
  DriftMonitor with_codes = Monitor(10000);
  with_codes.Observe(rows, &mse, &codes);
  EXPECT_DOUBLE_EQ(with_codes.Figures().anomaly_ratio(), by_combined);
  DriftMonitor without = Monitor(10000);
  without.Observe(rows, &mse, nullptr);
  EXPECT_DOUBLE_EQ(without.Figures().anomaly_ratio(), by_mse);
}

TEST_F(DriftMonitorTest, WindowKeepsBetweenHalfAndAllOfItsRows) {
  DriftMonitor m = Monitor(1000);
  const Matrix rows = data_->topRows(400);
  m.Observe(rows, nullptr, nullptr);
  EXPECT_EQ(m.Figures().window_rows(), 400);
  m.Observe(rows, nullptr, nullptr);
  m.Observe(rows, nullptr, nullptr);  // 1,200 seen
  const int64_t n = m.Figures().window_rows();
  EXPECT_GE(n, 500);
  EXPECT_LE(n, 1000);
  // The totals count every row ever seen, the window's rotations aside.
  const Eigen::VectorXf mse = Eigen::VectorXf::Constant(400, 1e-3f);
  m.Observe(rows, &mse, nullptr);
  m.Observe(rows, &mse, nullptr);
  const DriftMonitor::Totals totals = m.Cumulative();
  EXPECT_EQ(totals.rows, 2000u);
  uint64_t scored = 0;
  for (uint64_t c : totals.error_bins) scored += c;
  EXPECT_EQ(scored, 800u);
  EXPECT_NEAR(totals.error_sum, 0.8, 1e-4);
}

TEST_F(DriftMonitorTest, TotalsGiveTheFiguresOfAWindowHoldingEveryRow) {
  // What Prometheus computes from the counters (shares = bin counts / rows)
  // is what a window holding all the rows says.
  Matrix rows = data_->topRows(3000);
  rows.col(4).array() += 1.5f * model_->scaler().scale()(4);
  const Eigen::VectorXf mse =
      model_->FeatureErrors(rows, ScoreMetric::kMeanSquared)->rowwise().mean();
  DriftMonitor small = Monitor(1000);  // rotates many times
  DriftMonitor whole = Monitor(100000);
  for (Eigen::Index start = 0; start < rows.rows(); start += 500) {
    const Matrix part = rows.middleRows(start, 500);
    const Eigen::VectorXf part_mse = mse.segment(start, 500);
    small.Observe(part, &part_mse, nullptr);
    whole.Observe(part, &part_mse, nullptr);
  }
  const DriftMonitor::Totals t = small.Cumulative();
  const v1::DriftFigures f = whole.Figures();
  ASSERT_EQ(t.rows, 3000u);
  const v1::DriftBaseline& b = small.baseline();
  int checked = 0;
  for (const v1::FeatureDrift& d : f.features()) {
    const v1::FeatureBaseline& fb = b.features(d.index());
    std::vector<double> live;
    for (int k = 0; k < fb.proportions_size(); ++k) {
      live.push_back(static_cast<double>(t.bin_counts[small.bin_offset(d.index()) + k]) / 3000);
    }
    EXPECT_NEAR(PopulationStabilityIndex({fb.proportions().begin(), fb.proportions().end()}, live),
                d.psi(), 1e-12)
        << d.name();
    EXPECT_DOUBLE_EQ(t.out_of_range[d.index()] / 3000.0, d.out_of_range_ratio()) << d.name();
    ++checked;
  }
  EXPECT_EQ(checked, 6);
  EXPECT_EQ(f.features(0).name(), "e");
  std::vector<double> errors;
  for (uint64_t c : t.error_bins) errors.push_back(static_cast<double>(c) / 3000);
  const v1::ErrorBaseline& eb = b.reconstruction_error();
  EXPECT_NEAR(PopulationStabilityIndex(
                  {eb.histogram_proportions().begin(), eb.histogram_proportions().end()}, errors),
              f.error_psi(), 1e-12);
  EXPECT_DOUBLE_EQ(static_cast<double>(t.anomalies) / 3000, f.anomaly_ratio());
  EXPECT_GT(t.anomalies, 0u);
}

TEST(DriftMathTest, OutOfRangePsiFollowsTheTrainingSetSize) {
  // Training predicts 2 / (n + 1) of new values outside its range.
  EXPECT_LT(OutOfRangePsi(2.0 / 4001, 4000), 1e-9);
  EXPECT_LT(OutOfRangePsi(0.01, 4000), 0.1);
  EXPECT_GT(OutOfRangePsi(0.06, 4000), kDriftedPsi);
  // A small training set's range is narrower: the same share is less news.
  EXPECT_LT(OutOfRangePsi(0.05, 100), OutOfRangePsi(0.05, 4000));
  EXPECT_GT(OutOfRangePsi(1.0, 100), kDriftedPsi);
  EXPECT_STREQ(DriftLevel(0.05), "stable");
  EXPECT_STREQ(DriftLevel(0.2), "moderate");
  EXPECT_STREQ(DriftLevel(0.3), "DRIFTED");
}

TEST_F(DriftMonitorTest, AConstantTrainingColumnThatMovesIsDrifted) {
  // Feature a as if it had been constant in training: one bin, min = max.
  v1::DriftBaseline baseline = model_->info().drift_baseline;
  EXPECT_EQ(baseline.training_rows(), 4000);
  v1::FeatureBaseline* a = baseline.mutable_features(0);
  a->clear_bin_edges();
  a->clear_proportions();
  a->add_proportions(1.0);
  a->set_min(0);
  a->set_max(0);
  a->set_std(0);
  DriftMonitor monitor(baseline, model_->scaler(), model_->info().feature_names,
                       model_->info().calibration, 10000);
  Matrix rows = data_->topRows(1000);
  rows.col(0).setConstant(model_->scaler().offset()(0) + 50 * model_->scaler().scale()(0));
  monitor.Observe(rows, nullptr, nullptr);
  const v1::DriftFigures f = monitor.Figures();
  ASSERT_GT(f.features_size(), 0);
  const v1::FeatureDrift& d = f.features(0);  // the most drifted first
  EXPECT_EQ(d.name(), "a");
  EXPECT_EQ(d.psi(), 0);  // one bin: PSI cannot see it
  EXPECT_EQ(d.out_of_range_ratio(), 1.0);
  EXPECT_GT(d.out_of_range_psi(), kDriftedPsi);
  EXPECT_EQ(d.drift(), d.out_of_range_psi());
  EXPECT_STREQ(DriftLevel(d.drift()), "DRIFTED");
  EXPECT_GT(f.drift_score(), kDriftedPsi);
}

// The issue's own case, trained for real (scaler, bins and range of a
// column that is 7 in every training row): 100 live is drifted, 7 is not.
TEST(DriftTrainedTest, AColumnConstantInTrainingThatMovesIsDrifted) {
  Matrix data = testing::ManifoldData(2000, 5, 2, 8);
  data.col(2).setConstant(7);
  Trainer::Options options;
  options.input_dim = 5;
  options.config.add_encoder_widths(4);
  options.config.add_encoder_widths(2);
  options.config.set_finetune_epochs(5);
  options.feature_names = {"a", "b", "const", "d", "e"};
  absl::StatusOr<std::unique_ptr<Model>> model = (*Trainer::Create(options))->Train(data);
  ASSERT_TRUE(model.ok()) << model.status();
  const ModelInfo& info = (*model)->info();
  const auto monitor = [&] {
    return std::make_unique<DriftMonitor>(info.drift_baseline, (*model)->scaler(),
                                          info.feature_names, info.calibration, 10000);
  };
  Matrix live = data.topRows(1000);
  const std::unique_ptr<DriftMonitor> same = monitor();
  same->Observe(live, nullptr, nullptr);
  const v1::DriftFigures stable = same->Figures();
  EXPECT_LT(stable.drift_score(), kDriftedPsi);
  live.col(2).setConstant(100);
  const std::unique_ptr<DriftMonitor> moved = monitor();
  moved->Observe(live, nullptr, nullptr);
  const v1::DriftFigures f = moved->Figures();
  ASSERT_GT(f.features_size(), 0);
  const v1::FeatureDrift& d = f.features(0);  // the most drifted first
  EXPECT_EQ(d.name(), "const");
  EXPECT_EQ(d.out_of_range_ratio(), 1.0);
  EXPECT_STREQ(DriftLevel(d.drift()), "DRIFTED");
  EXPECT_GT(f.drift_score(), kDriftedPsi);
}

// The anomaly ratio says which score it counts rows above the threshold of.
TEST_F(DriftMonitorTest, TheAnomalyRatioNamesItsScore) {
  EXPECT_EQ(Monitor(100).Figures().anomaly_score(), "combined");
  v1::AnomalyCalibration without_codes = model_->info().calibration;
  without_codes.clear_code();
  const DriftMonitor old(model_->info().drift_baseline, model_->scaler(),
                         model_->info().feature_names, without_codes, 100);
  EXPECT_EQ(old.Figures().anomaly_score(), "mse");
}

TEST_F(DriftMonitorTest, EmptyWindowHasNoDriftScore) {
  const v1::DriftFigures f = Monitor(100).Figures();
  EXPECT_EQ(f.window_rows(), 0);
  EXPECT_EQ(f.features_size(), 0);
  // Nothing seen, nothing measured: not a score of 0, which reads as stable.
  EXPECT_FALSE(f.has_drift_score());
  EXPECT_GT(f.training_error_p95(), 0);
}

}  // namespace
}  // namespace strata

namespace strata {
namespace {

TEST_F(DriftMonitorTest, ConcurrentObserversAndScrapesAgree) {
  DriftMonitor m = Monitor(1000000);  // one window holds everything
  const Matrix rows = data_->topRows(100);
  const Eigen::VectorXf mse = Eigen::VectorXf::Constant(100, 1e-3f);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) m.Observe(rows, &mse, nullptr);
    });
  }
  std::thread scraper([&] {
    for (int i = 0; i < 50; ++i) {
      const v1::DriftFigures f = m.Figures();
      EXPECT_EQ(f.window_rows() % 100, 0);  // batches are recorded whole
      EXPECT_EQ(f.error_rows(), f.window_rows());
    }
  });
  for (auto& t : threads) t.join();
  scraper.join();
  EXPECT_EQ(m.Figures().window_rows(), 4 * 50 * 100);
}

}  // namespace
}  // namespace strata
