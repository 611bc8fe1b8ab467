// Calibration at the end of training: refused when the set is too small,
// a warning when it is weak, and stopped by a late cancel.
#include "core/train/calibration.h"

#include <atomic>

#include "core/train/trainer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/synthetic_data.h"
#include "tests/testing/train_for_test.h"

namespace strata {
namespace {

using ::testing::HasSubstr;
using testing::Train;

// Calibration and the drift baseline run after the last mini-batch; a
// cancel that arrives then still stops the job (no model returned).
TEST(TrainerTest, CancellingAfterTheLastEpochStopsCalibration) {
  const Matrix data = testing::ManifoldData(300, 6, 2, 62);
  v1::TrainConfig config;
  config.set_pretrain_epochs(0);
  config.set_finetune_epochs(2);
  std::atomic<bool> cancel{false};
  Trainer::Options options;
  options.cancel = &cancel;
  // After the served network's last epoch.
  options.on_epoch = [&](const TrainProgress& p) {
    if (p.epochs_done == 2) cancel = true;
  };
  // By default the ensemble's other networks train next, and stop.
  auto cancelled = Train(config, data, options);
  ASSERT_EQ(cancelled.status().code(), absl::StatusCode::kCancelled) << cancelled.status();
  EXPECT_NE(cancelled.status().message().find("ensemble network 2: training cancelled"),
            std::string::npos)
      << cancelled.status();
  // With one network, calibration is next, and stops.
  cancel = false;
  config.mutable_anomaly()->set_ensemble_size(1);
  cancelled = Train(config, data, options);
  ASSERT_EQ(cancelled.status().code(), absl::StatusCode::kCancelled) << cancelled.status();
  EXPECT_NE(cancelled.status().message().find("calibration"), std::string::npos)
      << cancelled.status();
}

TEST(TrainerTest, SetsTooSmallToCalibrateAreRefusedAndWeakOnesSaySo) {
  v1::TrainConfig config;
  config.set_finetune_epochs(1);
  // One row once trained a model with threshold 0 that scored every other
  // row 8e12.
  const auto one_row = Train(config, testing::GaussianMatrix(1, 3, 1));
  EXPECT_EQ(one_row.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(one_row.status().message(), HasSubstr("has 1 rows; at least 50"));
  // A wide code needs more: 2 x 40 code units.
  config.add_encoder_widths(40);
  EXPECT_THAT(Train(config, testing::GaussianMatrix(60, 3, 1)).status().message(),
              HasSubstr("at least 80"));
  config.clear_encoder_widths();
  // At the margin: trains, and says the p99 threshold rests on 0.6 rows.
  const auto weak = Train(config, testing::GaussianMatrix(60, 3, 1));
  ASSERT_TRUE(weak.ok()) << weak.status();
  ASSERT_EQ((*weak)->info().summary.warnings_size(), 1);
  EXPECT_THAT((*weak)->info().summary.warnings(0), HasSubstr("weak calibration"));
  const auto firm = Train(config, testing::GaussianMatrix(2000, 3, 1));
  ASSERT_TRUE(firm.ok()) << firm.status();
  EXPECT_EQ((*firm)->info().summary.warnings_size(), 0);
}

}  // namespace
}  // namespace strata
