// A training phase through the trainer: early stopping with restore, the
// plateau and cosine learning rates as the epochs record them, and
// divergence reported as an error. The policies alone:
// epoch_policies_test.cc.
#include "core/train/phase_runner.h"

#include <algorithm>
#include <string>

#include "core/train/train_config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/synthetic_data.h"
#include "tests/testing/train_for_test.h"

namespace strata {
namespace {

using ::testing::HasSubstr;
using testing::Train;

TEST(TrainerTest, EarlyStoppingRestoresTheBestWeights) {
  // Few rows and a large net overfit quickly: validation loss turns up.
  const Matrix data = testing::ManifoldData(60, 10, 2, 71, 0.3);
  v1::TrainConfig config;
  config.add_encoder_widths(64);
  config.add_encoder_widths(8);
  config.set_validation_fraction(0.3f);
  config.set_finetune_epochs(2000);
  config.set_batch_size(8);
  config.mutable_optimizer()->set_learning_rate(1e-2f);
  config.mutable_early_stopping()->set_patience(5);
  config.mutable_reduce_lr_on_plateau()->set_patience(0);
  auto model = Train(config, data);
  ASSERT_TRUE(model.ok()) << model.status();
  const auto& history = (*model)->info().history;
  EXPECT_LT(history.size(), 2000u);
  double best = 1e30;
  for (const auto& e : history) best = std::min(best, e.validation_loss());
  EXPECT_EQ((*model)->info().summary.final_validation_loss(), best);
  EXPECT_NE(history.back().validation_loss(), best);
}

TEST(TrainerTest, ReduceLrOnPlateauLowersTheLearningRate) {
  const Matrix data = testing::ManifoldData(60, 10, 2, 81, 0.3);
  v1::TrainConfig config;
  config.add_encoder_widths(64);
  config.add_encoder_widths(8);
  config.set_validation_fraction(0.3f);
  config.set_finetune_epochs(150);
  config.set_batch_size(8);
  config.mutable_optimizer()->set_learning_rate(1e-2f);
  config.mutable_early_stopping()->set_patience(0);
  config.mutable_reduce_lr_on_plateau()->set_patience(2);
  config.mutable_reduce_lr_on_plateau()->set_min_learning_rate(1e-3f);
  auto model = Train(config, data);
  ASSERT_TRUE(model.ok()) << model.status();
  const auto& history = (*model)->info().history;
  EXPECT_EQ(history.size(), 150u);
  EXPECT_FLOAT_EQ(history.front().learning_rate(), 1e-2f);
  EXPECT_FLOAT_EQ(history.back().learning_rate(), 1e-3f);  // floored at min_learning_rate
}

TEST(TrainerTest, CosineScheduleAnnealsEachPhaseAndIgnoresThePlateau) {
  const Matrix data = testing::ManifoldData(60, 10, 2, 81, 0.3);
  v1::TrainConfig config;
  config.add_encoder_widths(8);
  config.add_encoder_widths(4);
  config.set_pretrain_epochs(4);
  config.set_finetune_epochs(20);
  config.mutable_optimizer()->set_learning_rate(1e-2f);
  config.mutable_optimizer()->set_schedule(v1::OptimizerConfig::COSINE);
  config.mutable_early_stopping()->set_patience(0);
  config.mutable_reduce_lr_on_plateau()->set_patience(1);  // no effect under COSINE
  auto model = Train(config, data);
  ASSERT_TRUE(model.ok()) << model.status();
  const auto& history = (*model)->info().history;
  ASSERT_EQ(history.size(), 2 * 4 + 20u);
  EXPECT_FLOAT_EQ((*model)->info().config.optimizer().final_learning_rate(), 1e-4f);
  for (const v1::EpochRecord& e : history) {
    const int epochs = e.phase() == v1::EpochRecord::PRETRAIN ? 4 : 20;
    const double expected =
        1e-4 + (1e-2 - 1e-4) * (1 + std::cos(3.14159265358979 * (e.epoch() - 1) / epochs)) / 2;
    EXPECT_NEAR(e.learning_rate(), expected, 1e-7) << "epoch " << e.epoch();
  }
  // A final rate above the start is refused, naming the field.
  config.mutable_optimizer()->set_final_learning_rate(0.5f);
  const absl::Status bad = Train(config, data).status();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.message()), ::testing::HasSubstr("optimizer.final_learning_rate"));
}

TEST(TrainerTest, DivergenceIsReportedNotReturnedAsAModel) {
  v1::TrainConfig config;
  config.add_encoder_widths(4);
  config.set_scaler(v1::IDENTITY);
  config.mutable_optimizer()->set_kind(v1::OptimizerConfig::SGD);
  config.mutable_optimizer()->set_learning_rate(1e3f);
  config.set_finetune_epochs(50);
  auto model = Train(config, testing::GaussianMatrix(200, 6, 1, 100.0));
  EXPECT_EQ(model.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(model.status().message(), HasSubstr("diverged"));
}

// The loss is checked before each step: the last step can still leave
// non-finite weights (huge learning rate) or finite weights whose outputs
// overflow (large one), with nothing to restore at patience 0. Neither may
// come back as a model.
TEST(TrainerTest, DivergenceOnTheLastStepIsReportedNotReturnedAsAModel) {
  for (float learning_rate : {3e38f, 1e25f}) {
    v1::TrainConfig config;
    config.add_encoder_widths(4);
    config.set_scaler(v1::IDENTITY);
    config.set_validation_fraction(0);
    config.set_batch_size(1000);  // one step in all
    config.set_finetune_epochs(1);
    config.mutable_early_stopping()->set_patience(0);
    config.mutable_optimizer()->set_kind(v1::OptimizerConfig::SGD);
    config.mutable_optimizer()->set_learning_rate(learning_rate);
    auto model = Train(config, testing::GaussianMatrix(200, 6, 1, 100.0));
    EXPECT_EQ(model.status().code(), absl::StatusCode::kFailedPrecondition) << learning_rate;
    EXPECT_THAT(model.status().message(), HasSubstr("diverged")) << learning_rate;
  }
}

}  // namespace
}  // namespace strata
