// Training from a row file (Trainer::Train(const RowFile&)): the model the
// same rows give in memory. Under a memory limit smaller than the data, the
// same is tests/e2e/mapped_train_e2e_test.cc.
#include <algorithm>
#include <fstream>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/base/file_util.h"
#include "core/data/row_file.h"
#include "core/scoring/anomaly.h"
#include "core/train/train_config.h"
#include "core/train/trainer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/model_diff.h"
#include "tests/testing/synthetic_data.h"

namespace strata {
namespace {

using ::testing::HasSubstr;

v1::TrainConfig Config() {
  v1::TrainConfig c;
  c.add_encoder_widths(6);
  c.add_encoder_widths(3);
  c.set_pretrain_epochs(2);
  c.set_finetune_epochs(6);
  c.set_batch_size(32);
  c.set_threads(1);
  c.set_seed(11);
  c.mutable_anomaly()->set_ensemble_size(1);
  return c;
}

std::unique_ptr<RowFile> RowFileOf(const Matrix& data, const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/strata_mapped_" + name;
  std::system(("rm -rf '" + dir + "'").c_str());
  EXPECT_TRUE(CreateDirectories(dir).ok());
  // Two shards.
  const Eigen::Index half = data.rows() / 2;
  std::ofstream(dir + "/0.csv") << testing::CsvText(data.topRows(half));
  std::ofstream(dir + "/1.csv") << testing::CsvText(data.bottomRows(data.rows() - half));
  RowFile::Source source;
  source.files = *ListDataFiles(dir);
  absl::StatusOr<std::unique_ptr<RowFile>> file = RowFile::FromCsv(source);
  EXPECT_TRUE(file.ok()) << file.status();
  return file.ok() ? *std::move(file) : nullptr;
}

std::unique_ptr<Model> Train(const v1::TrainConfig& config, int input_dim, const Matrix* data,
                             const RowFile* file, int64_t block_rows = 0,
                             int64_t calibration_values = int64_t{1} << 24) {
  Trainer::Options o;
  o.config = config;
  o.input_dim = input_dim;
  o.shuffle_block_rows = block_rows;
  o.calibration_values = calibration_values;
  std::unique_ptr<Trainer> trainer = *Trainer::Create(o);
  absl::StatusOr<std::unique_ptr<Model>> model =
      data != nullptr ? trainer->Train(*data) : trainer->Train(*file);
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? *std::move(model) : nullptr;
}

TEST(MappedTrainingTest, ARowFileTrainsTheModelTheSameRowsTrainInMemory) {
  // One shuffle window: rows shuffled one by one, as in memory.
  const Matrix data = testing::ManifoldData(1500, 8, 3, 21);
  const std::unique_ptr<RowFile> file = RowFileOf(data, "same");
  ASSERT_NE(file, nullptr);
  for (const v1::Loss loss : {v1::MSE, v1::BCE}) {
    v1::TrainConfig config = Config();
    config.set_loss(loss);
    if (loss == v1::BCE) config.set_scaler(v1::MINMAX);
    SCOPED_TRACE(v1::Loss_Name(loss));
    const std::unique_ptr<Model> memory = Train(config, 8, &data, nullptr);
    const std::unique_ptr<Model> mapped = Train(config, 8, nullptr, file.get());
    ASSERT_NE(memory, nullptr);
    ASSERT_NE(mapped, nullptr);
    // The same computation: the same batches of the same scaled rows, and
    // every product reduced in an order that does not depend on how many
    // rows it holds (pretraining's codes come batch by batch from the file,
    // all at once in memory). So the same bits, not merely close ones.
    EXPECT_EQ(testing::FirstWeightDifference(*memory, *mapped), "");
    const v1::TrainingSummary& a = memory->info().summary;
    const v1::TrainingSummary& b = mapped->info().summary;
    EXPECT_EQ(a.epochs(), b.epochs());
    EXPECT_EQ(a.train_rows(), b.train_rows());
    EXPECT_EQ(a.final_train_loss(), b.final_train_loss());
    EXPECT_EQ(a.final_validation_loss(), b.final_validation_loss());
    // Calibrated on every row, in the same order, in both.
    EXPECT_EQ(memory->info().calibration.SerializeAsString(),
              mapped->info().calibration.SerializeAsString());
    EXPECT_EQ(mapped->info().drift_baseline.training_rows(), 1500);
    EXPECT_TRUE(b.warnings().empty()) << b.warnings(0);
  }
}

TEST(MappedTrainingTest, BlocksShuffleAsInMemoryWithTheSameBlocks) {
  // Blocks of 4 rows, windows of 64 blocks: 2400 rows are ~9 windows.
  const Matrix data = testing::ManifoldData(2400, 6, 2, 5);
  const std::unique_ptr<RowFile> file = RowFileOf(data, "blocks");
  ASSERT_NE(file, nullptr);
  const v1::TrainConfig config = Config();
  const std::unique_ptr<Model> memory = Train(config, 6, &data, nullptr, /*block_rows=*/4);
  const std::unique_ptr<Model> mapped = Train(config, 6, nullptr, file.get(), /*block_rows=*/4);
  const std::unique_ptr<Model> rows = Train(config, 6, &data, nullptr);
  ASSERT_NE(memory, nullptr);
  ASSERT_NE(mapped, nullptr);
  ASSERT_NE(rows, nullptr);
  EXPECT_EQ(testing::FirstWeightDifference(*memory, *mapped), "");
  // Another order than row by row, to about the same loss.
  EXPECT_GT(testing::MaxRelativeWeightDifference(*rows, *mapped), 1e-3);
  EXPECT_NEAR(rows->info().summary.final_validation_loss(),
              mapped->info().summary.final_validation_loss(),
              0.1 * rows->info().summary.final_validation_loss());
}

TEST(MappedTrainingTest, BeyondTheSampleBudgetCalibratesOnEveryKthRowAndCountsThemAll) {
  const Matrix data = testing::ManifoldData(3000, 6, 2, 9);
  const std::unique_ptr<RowFile> file = RowFileOf(data, "sample");
  ASSERT_NE(file, nullptr);
  const v1::TrainConfig config = Config();
  // 6,000 values: every 3rd row.
  const std::unique_ptr<Model> mapped = Train(config, 6, nullptr, file.get(), 0, 6000);
  const std::unique_ptr<Model> memory = Train(config, 6, &data, nullptr);
  ASSERT_NE(mapped, nullptr);
  ASSERT_NE(memory, nullptr);
  EXPECT_EQ(testing::FirstWeightDifference(*memory, *mapped), "");
  const v1::DriftBaseline& a = memory->info().drift_baseline;
  const v1::DriftBaseline& b = mapped->info().drift_baseline;
  EXPECT_EQ(b.training_rows(), 3000);
  for (int c = 0; c < 6; ++c) {
    EXPECT_NEAR(a.features(c).mean(), b.features(c).mean(), 1e-5);
    EXPECT_NEAR(a.features(c).std(), b.features(c).std(), 1e-5);
    EXPECT_FLOAT_EQ(a.features(c).min(), b.features(c).min());
    EXPECT_FLOAT_EQ(a.features(c).max(), b.features(c).max());
  }
  EXPECT_NEAR(a.reconstruction_error().mean(), b.reconstruction_error().mean(),
              1e-4 * a.reconstruction_error().mean());
  // The threshold from a third of the rows: near all rows' one.
  const double threshold = memory->info().calibration.mean_squared().threshold();
  EXPECT_NEAR(mapped->info().calibration.mean_squared().threshold(), threshold, 0.15 * threshold);
  ASSERT_EQ(mapped->info().summary.warnings_size(), 1);
  EXPECT_THAT(mapped->info().summary.warnings(0),
              HasSubstr("come from every 3-th of the 3000 rows (1000 rows)"));
}

// However small the budget (--calibration_values 1), the threshold never
// comes from fewer rows than a training set may have.
TEST(MappedTrainingTest, TheCalibrationSampleIsNeverSmallerThanATrainingSet) {
  // Row counts that a stride of ceil(rows / 50) would sample below 50.
  for (const auto& [rows, sampled] :
       std::vector<std::pair<int, std::string>>{{3000, "every 60-th of the 3000 rows (50 rows)"},
                                                {151, "every 3-th of the 151 rows (51 rows)"}}) {
    const Matrix data = testing::ManifoldData(rows, 6, 2, 9);
    const std::unique_ptr<RowFile> file = RowFileOf(data, absl::StrCat("tiny_budget", rows));
    ASSERT_NE(file, nullptr);
    const std::unique_ptr<Model> mapped = Train(Config(), 6, nullptr, file.get(), 0, /*values=*/1);
    ASSERT_NE(mapped, nullptr);
    ASSERT_EQ(MinTrainingRows(mapped->info().config), 50);
    EXPECT_THAT(absl::StrJoin(mapped->info().summary.warnings(), "\n"), HasSubstr(sampled));
  }
}

TEST(MappedTrainingTest, PretrainingAnEnsembleAndBatchNormWorkFromTheFile) {
  const Matrix data = testing::ManifoldData(800, 6, 2, 3);
  const std::unique_ptr<RowFile> file = RowFileOf(data, "toolbox");
  ASSERT_NE(file, nullptr);
  v1::TrainConfig config = Config();
  config.add_encoder_widths(2);  // three layers: codes through two frozen ones
  config.mutable_anomaly()->set_ensemble_size(2);
  config.set_batch_norm(v1::BEFORE_ACTIVATION);
  const std::unique_ptr<Model> mapped = Train(config, 6, nullptr, file.get());
  ASSERT_NE(mapped, nullptr);
  EXPECT_EQ(mapped->ensemble().size(), 1u);  // the served network's others
  EXPECT_EQ(mapped->info().history[0].phase(), v1::EpochRecord::PRETRAIN);
  const std::unique_ptr<Model> memory = Train(config, 6, &data, nullptr);
  ASSERT_NE(memory, nullptr);
  // The served network: pretraining on codes computed batch by batch is
  // pretraining on codes computed at once, bit for bit; the other network
  // too (its own split of the same rows, in the same order).
  ASSERT_EQ(memory->ensemble().size(), 1u);
  EXPECT_EQ(testing::FirstWeightDifference(*memory, *mapped), "");
  EXPECT_EQ(memory->info().calibration.ensemble().scores().threshold(),
            mapped->info().calibration.ensemble().scores().threshold());
}

TEST(MappedTrainingTest, ShuffleOrderPermutesWholeBlocksWindowByWindow) {
  std::mt19937_64 rng(3);
  // 64-block windows of 4 rows: 1000 positions are 250 blocks, 4 windows.
  std::vector<int> order(1000);
  std::iota(order.begin(), order.end(), 0);
  ShuffleOrder(4, &rng, &order);
  std::vector<int> sorted = order;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(sorted[i], i);
  const size_t window = 4 * kShuffleWindowBlocks;
  for (size_t start = 0; start < order.size(); start += window) {
    // Each window holds whole blocks: 4 positions of each block it touches.
    std::map<int, int> per_block;
    for (size_t i = start; i < std::min(order.size(), start + window); ++i) {
      ++per_block[order[i] / 4];
    }
    for (const auto& [block, count] : per_block) EXPECT_EQ(count, 4) << "block " << block;
  }
  // Shuffled within the window: not in block order.
  EXPECT_FALSE(std::is_sorted(order.begin(), order.begin() + window));
  // Again from that order: another permutation of all of them.
  const std::vector<int> first = order;
  ShuffleOrder(4, &rng, &order);
  EXPECT_NE(order, first);
  sorted = order;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(sorted[i], i);
  // One window or less, and a huge block: position by position, no overflow.
  std::vector<int> small(100);
  std::iota(small.begin(), small.end(), 0);
  ShuffleOrder(int64_t{1} << 62, &rng, &small);
  EXPECT_EQ(std::set<int>(small.begin(), small.end()).size(), 100u);
}

TEST(MappedTrainingTest, ARowFileOfAnotherWidthIsRefused) {
  const std::unique_ptr<RowFile> file = RowFileOf(testing::ManifoldData(200, 4, 2, 1), "width");
  ASSERT_NE(file, nullptr);
  Trainer::Options o;
  o.config = Config();
  o.input_dim = 5;
  absl::StatusOr<std::unique_ptr<Model>> model = (*Trainer::Create(o))->Train(*file);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(model.status().message(), HasSubstr("has 4 columns; the trainer takes 5"));
}

}  // namespace
}  // namespace strata
