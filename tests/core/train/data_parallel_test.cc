// Data-parallel training (Trainer::Options::collective) with ranks that are
// threads: the model equals one process's on all the rows. The same under
// mpirun is tests/e2e/mpi_train_e2e_test.cc.
#include <cmath>
#include <fstream>
#include <thread>

#include "core/data/row_file.h"
#include "core/train/trainer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/model_diff.h"
#include "tests/testing/synthetic_data.h"
#include "tests/testing/thread_collective.h"

namespace strata {
namespace {

using ::testing::HasSubstr;

v1::TrainConfig Config(int batch_size) {
  v1::TrainConfig c;
  c.add_encoder_widths(6);
  c.add_encoder_widths(3);
  c.set_pretrain_epochs(3);
  c.set_finetune_epochs(8);
  c.set_batch_size(batch_size);
  c.set_threads(1);
  c.set_seed(7);
  return c;
}

std::unique_ptr<Model> TrainAlone(const Matrix& data, const v1::TrainConfig& config) {
  Trainer::Options o;
  o.config = config;
  o.input_dim = static_cast<int>(data.cols());
  auto model = (*Trainer::Create(o))->Train(data);
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? *std::move(model) : nullptr;
}

// Each rank trains on its rows; the ranks' results in rank order.
std::vector<absl::StatusOr<std::unique_ptr<Model>>> TrainOnRanks(
    const std::vector<Matrix>& parts, const v1::TrainConfig& config,
    Trainer::Options::RowLayout layout, int64_t calibration_values = int64_t{1} << 24) {
  const int n = static_cast<int>(parts.size());
  testing::ThreadCollectiveGroup group(n);
  std::vector<absl::StatusOr<std::unique_ptr<Model>>> out(static_cast<size_t>(n));
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r) {
    threads.emplace_back([&, r] {
      Trainer::Options o;
      o.config = config;
      o.input_dim = static_cast<int>(parts[0].cols());
      o.collective = &group.rank(r);
      o.row_layout = layout;
      o.calibration_values = calibration_values;
      out[static_cast<size_t>(r)] = (*Trainer::Create(o))->Train(parts[static_cast<size_t>(r)]);
    });
  }
  for (std::thread& t : threads) t.join();
  return out;
}

// Each rank trains from its own row file (its block of the rows).
TEST(DataParallelTest, RanksTrainingFromRowFilesTrainTheModelOneProcessTrains) {
  const Matrix data = testing::ManifoldData(1203, 8, 3, 5);
  const std::unique_ptr<Model> alone = TrainAlone(data, Config(64));
  ASSERT_NE(alone, nullptr);
  const std::string dir = ::testing::TempDir() + "/strata_dp_row_files";
  std::system(("rm -rf '" + dir + "' && mkdir -p '" + dir + "'").c_str());
  const std::vector<Matrix> parts = {data.topRows(700), data.bottomRows(503)};
  std::vector<std::unique_ptr<RowFile>> files;
  for (size_t r = 0; r < parts.size(); ++r) {
    const std::string path = dir + "/rank" + std::to_string(r) + ".csv";
    std::ofstream(path) << testing::CsvText(parts[r]);
    RowFile::Source source;
    source.files = {path};
    absl::StatusOr<std::unique_ptr<RowFile>> file = RowFile::FromCsv(source);
    ASSERT_TRUE(file.ok()) << file.status();
    files.push_back(*std::move(file));
  }
  testing::ThreadCollectiveGroup group(2);
  std::vector<absl::StatusOr<std::unique_ptr<Model>>> out(2);
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      Trainer::Options o;
      o.config = Config(32);
      o.input_dim = 8;
      o.collective = &group.rank(r);
      o.row_layout = Trainer::Options::RowLayout::kBlocks;
      out[static_cast<size_t>(r)] = (*Trainer::Create(o))->Train(*files[static_cast<size_t>(r)]);
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_TRUE(out[0].ok()) << out[0].status();
  ASSERT_TRUE(out[1].ok()) << out[1].status();
  EXPECT_LT(testing::MaxRelativeWeightDifference(*alone, **out[0]), 1e-4);
  EXPECT_EQ(WeightsChecksum((*out[0])->autoencoder()), WeightsChecksum((*out[1])->autoencoder()));
  EXPECT_LT(testing::RelativeDifference(alone->info().calibration.mean_squared().threshold(),
                                        (*out[0])->info().calibration.mean_squared().threshold()),
            1e-4);
  EXPECT_EQ((*out[1])->info().drift_baseline.training_rows(), 1203);
}

// Every n-th row from `rank`.
Matrix Interleaved(const Matrix& data, int rank, int n) {
  Matrix out((data.rows() - rank + n - 1) / n, data.cols());
  for (Eigen::Index i = 0; i < out.rows(); ++i) out.row(i) = data.row(i * n + rank);
  return out;
}

// One rank (mpirun -np 1) is one process: the same computation, so the
// same bits, in both row layouts.
TEST(DataParallelTest, OneRankTrainsTheBitsOneProcessTrains) {
  const Matrix data = testing::ManifoldData(900, 8, 3, 13);
  const v1::TrainConfig config = Config(32);
  const std::unique_ptr<Model> alone = TrainAlone(data, config);
  ASSERT_NE(alone, nullptr);
  for (const auto layout :
       {Trainer::Options::RowLayout::kInterleaved, Trainer::Options::RowLayout::kBlocks}) {
    std::vector<absl::StatusOr<std::unique_ptr<Model>>> out = TrainOnRanks({data}, config, layout);
    ASSERT_TRUE(out[0].ok()) << out[0].status();
    EXPECT_EQ(testing::FirstWeightDifference(*alone, **out[0]), "");
    EXPECT_EQ(alone->info().calibration.SerializeAsString(),
              (*out[0])->info().calibration.SerializeAsString());
  }
}

TEST(DataParallelTest, TwoRanksTrainTheModelOneProcessTrainsWithTheSameGlobalBatch) {
  const Matrix data = testing::ManifoldData(1203, 8, 3, 5);
  const std::unique_ptr<Model> alone = TrainAlone(data, Config(64));
  ASSERT_NE(alone, nullptr);
  for (const auto layout :
       {Trainer::Options::RowLayout::kInterleaved, Trainer::Options::RowLayout::kBlocks}) {
    std::vector<Matrix> parts;
    if (layout == Trainer::Options::RowLayout::kInterleaved) {
      parts = {Interleaved(data, 0, 2), Interleaved(data, 1, 2)};
    } else {
      parts = {data.topRows(700), data.bottomRows(503)};
    }
    auto ranks = TrainOnRanks(parts, Config(32), layout);
    ASSERT_TRUE(ranks[0].ok()) << ranks[0].status();
    ASSERT_TRUE(ranks[1].ok()) << ranks[1].status();
    const Model& r0 = **ranks[0];
    const Model& r1 = **ranks[1];
    // Layer-wise pretraining (2 layers x 3 epochs) and fine-tuning alike.
    EXPECT_EQ(r0.info().history.size(), alone->info().history.size());
    EXPECT_LT(testing::MaxRelativeWeightDifference(*alone, r0), 1e-4);
    EXPECT_EQ(WeightsChecksum(r0.autoencoder()), WeightsChecksum(r1.autoencoder()));
    const v1::AnomalyCalibration& a = alone->info().calibration;
    const v1::AnomalyCalibration& b = r0.info().calibration;
    EXPECT_LT(
        testing::RelativeDifference(a.mean_squared().threshold(), b.mean_squared().threshold()),
        1e-4);
    EXPECT_LT(testing::RelativeDifference(a.combined().threshold(), b.combined().threshold()),
              1e-4);
    EXPECT_LT(
        testing::RelativeDifference(a.mean_absolute().threshold(), b.mean_absolute().threshold()),
        1e-4);
    EXPECT_TRUE(r0.info().calibration.SerializeAsString() ==
                r1.info().calibration.SerializeAsString());
    // The scaler, the losses and the baseline cover every row.
    EXPECT_LT((alone->scaler().offset() - r0.scaler().offset()).cwiseAbs().maxCoeff(), 1e-6);
    EXPECT_LT((alone->scaler().scale() - r0.scaler().scale()).cwiseAbs().maxCoeff(), 1e-6);
    EXPECT_EQ(r0.info().summary.train_rows(), alone->info().summary.train_rows());
    EXPECT_LT(testing::RelativeDifference(alone->info().summary.final_validation_loss(),
                                          r0.info().summary.final_validation_loss()),
              1e-4);
    EXPECT_EQ(r0.info().drift_baseline.training_rows(), 1203);
    EXPECT_EQ(r0.info().drift_baseline.features(3).bin_edges_size(),
              alone->info().drift_baseline.features(3).bin_edges_size());
    EXPECT_EQ(r0.info().config.anomaly().ensemble_size(), 1);
    // One process would have trained 5 networks by default: said, not silent.
    EXPECT_EQ(alone->info().config.anomaly().ensemble_size(), 5);
    EXPECT_THAT(r0.info().summary.warnings(),
                ::testing::Contains(HasSubstr("would have trained 5 by default")));
  }
}

TEST(DataParallelTest, BeyondTheGatherBudgetQuantilesComeFromASampleAndTheRestFromAllRows) {
  const Matrix data = testing::ManifoldData(3000, 8, 3, 9);
  v1::TrainConfig config = Config(32);
  config.mutable_anomaly()->set_ensemble_size(1);
  const std::unique_ptr<Model> alone = TrainAlone(data, Config(64));
  ASSERT_NE(alone, nullptr);
  // 500 rows' worth of values: every 6th row is gathered.
  auto ranks = TrainOnRanks({Interleaved(data, 0, 2), Interleaved(data, 1, 2)}, config,
                            Trainer::Options::RowLayout::kInterleaved, 500 * 8);
  ASSERT_TRUE(ranks[0].ok()) << ranks[0].status();
  ASSERT_TRUE(ranks[1].ok()) << ranks[1].status();
  const Model& r0 = **ranks[0];
  EXPECT_LT(testing::MaxRelativeWeightDifference(*alone, r0), 1e-4);
  EXPECT_THAT(r0.info().summary.warnings(),
              ::testing::Contains(HasSubstr("every 6-th of the 3000 rows (500 rows gathered")));
  const v1::DriftBaseline& a = alone->info().drift_baseline;
  const v1::DriftBaseline& b = r0.info().drift_baseline;
  EXPECT_EQ(b.training_rows(), 3000);
  for (int c = 0; c < 8; ++c) {
    // Ranges and moments by reductions over every row: one process's.
    EXPECT_FLOAT_EQ(a.features(c).min(), b.features(c).min()) << c;
    EXPECT_FLOAT_EQ(a.features(c).max(), b.features(c).max()) << c;
    EXPECT_NEAR(a.features(c).mean(), b.features(c).mean(), 1e-5) << c;
    EXPECT_NEAR(a.features(c).std(), b.features(c).std(), 1e-5) << c;
    // Edges from the sample: the shares of all rows stay near equal.
    double total = 0;
    for (double share : b.features(c).proportions()) {
      EXPECT_NEAR(share, 1.0 / b.features(c).proportions_size(), 0.04) << c;
      total += share;
    }
    EXPECT_NEAR(total, 1.0, 1e-9);
  }
  EXPECT_NEAR(a.reconstruction_error().mean(), b.reconstruction_error().mean(),
              1e-4 * a.reconstruction_error().mean());
  EXPECT_NEAR(a.reconstruction_error().max(), b.reconstruction_error().max(),
              1e-4 * a.reconstruction_error().max());
  // The threshold is the sample's p99: near the one of all rows.
  EXPECT_NEAR(r0.info().calibration.mean_squared().threshold(),
              alone->info().calibration.mean_squared().threshold(),
              0.3 * alone->info().calibration.mean_squared().threshold());
  EXPECT_EQ(ranks[1].value()->info().drift_baseline.SerializeAsString(), b.SerializeAsString());
}

TEST(DataParallelTest, WhatRanksCannotShareIsRefusedOnEveryRank) {
  const Matrix data = testing::ManifoldData(400, 8, 3, 5);
  const std::vector<Matrix> parts = {Interleaved(data, 0, 2), Interleaved(data, 1, 2)};
  v1::TrainConfig bn = Config(32);
  bn.set_batch_norm(v1::AFTER_ACTIVATION);
  v1::TrainConfig ensemble = Config(32);
  ensemble.mutable_anomaly()->set_ensemble_size(3);
  for (const auto& [config, field] : {std::pair{bn, "batch_norm"}, {ensemble, "ensemble_size"}}) {
    for (const auto& r : TrainOnRanks(parts, config, Trainer::Options::RowLayout::kInterleaved)) {
      EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(r.status().message(), HasSubstr(field));
    }
  }
  // Interleaved rows must be every n-th: 150 and 250 rows are not.
  for (const auto& r : TrainOnRanks({data.topRows(150), data.bottomRows(250)}, Config(32),
                                    Trainer::Options::RowLayout::kInterleaved)) {
    EXPECT_THAT(r.status().message(), HasSubstr("rank 0 holds 150 rows; every 2-th of 400"));
  }
  // A bad value one rank finds fails both, naming the rank, and none hangs.
  Matrix bad = parts[1];
  bad(3, 2) = std::nanf("");
  auto failed =
      TrainOnRanks({parts[0], bad}, Config(32), Trainer::Options::RowLayout::kInterleaved);
  EXPECT_THAT(failed[1].status().message(), HasSubstr("row 3"));
  EXPECT_THAT(failed[0].status().message(), HasSubstr("rank 1 failed: training data: row 3"));
}

}  // namespace
}  // namespace strata
