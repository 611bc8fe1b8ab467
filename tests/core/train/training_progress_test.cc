// Training progress (TrainProgress, reported after every epoch of every
// network) and cancellation between mini-batches.
#include <atomic>
#include <limits>
#include <vector>

#include "core/train/train_config.h"
#include "core/train/trainer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/synthetic_data.h"
#include "tests/testing/train_for_test.h"

namespace strata {
namespace {

using ::testing::HasSubstr;
using testing::Train;

TEST(TrainerTest, ProgressIsReportedEveryEpochAndCancellationStops) {
  const Matrix data = testing::ManifoldData(300, 6, 2, 61);
  v1::TrainConfig config;
  config.set_pretrain_epochs(2);
  config.set_finetune_epochs(5);
  config.mutable_anomaly()->set_ensemble_size(1);  // an ensemble: the next test
  std::vector<TrainProgress> seen;
  Trainer::Options options;
  options.on_epoch = [&](const TrainProgress& p) { seen.push_back(p); };
  ASSERT_TRUE(Train(config, data, options).ok());
  ASSERT_EQ(seen.size(), 2u * 2 + 5);  // default widths: 2 layers for 6 features
  for (size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].epochs_done, static_cast<int>(i + 1));
    EXPECT_EQ(seen[i].epochs_planned, 9);
    EXPECT_GE(seen[i].eta_seconds, 0);
    EXPECT_EQ(seen[i].network, 1);
    EXPECT_EQ(seen[i].networks, 1);
  }
  EXPECT_EQ(seen.back().eta_seconds, 0);

  std::atomic<bool> cancel{false};
  int epochs = 0;
  options.cancel = &cancel;
  options.on_epoch = [&](const TrainProgress&) {
    if (++epochs == 3) cancel = true;
  };
  auto cancelled = Train(config, data, options);
  EXPECT_EQ(cancelled.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(epochs, 3);
}

// An ensemble's networks were trained after the served one without a word:
// progress sat at 9/9 ("ETA 0s") while four more networks trained, and the
// summary counted 9 epochs. Every network's epochs are progress now, each
// marked with its network, and the summary counts them; the history stays
// the served network's.
TEST(TrainerTest, ProgressCountsEveryNetworkOfTheEnsemble) {
  const Matrix data = testing::ManifoldData(300, 6, 2, 61);
  v1::TrainConfig config;
  config.set_pretrain_epochs(2);
  config.set_finetune_epochs(5);
  config.mutable_anomaly()->set_ensemble_size(3);
  std::vector<TrainProgress> seen;
  Trainer::Options options;
  options.on_epoch = [&](const TrainProgress& p) { seen.push_back(p); };
  auto model = Train(config, data, options);
  ASSERT_TRUE(model.ok()) << model.status();
  constexpr int kEach = 2 * 2 + 5;  // default widths: 2 layers for 6 features
  ASSERT_EQ(seen.size(), 3u * kEach);
  for (size_t i = 0; i < seen.size(); ++i) {
    SCOPED_TRACE(::testing::Message() << "report " << i);
    EXPECT_EQ(seen[i].epochs_done, static_cast<int>(i + 1));
    EXPECT_EQ(seen[i].epochs_planned, 3 * kEach);
    EXPECT_EQ(seen[i].network, 1 + static_cast<int>(i) / kEach);
    EXPECT_EQ(seen[i].networks, 3);
    EXPECT_GE(seen[i].eta_seconds, 0);
    if (i > 0) {
      EXPECT_GE(seen[i].elapsed_seconds, seen[i - 1].elapsed_seconds);
    }
  }
  // Each network goes through the same phases.
  EXPECT_EQ(seen[kEach].record.phase(), v1::EpochRecord::PRETRAIN);
  EXPECT_EQ(seen[kEach].record.layer(), 1);
  EXPECT_EQ(seen.back().record.phase(), v1::EpochRecord::FINETUNE);
  EXPECT_EQ(seen.back().eta_seconds, 0);
  const ModelInfo& info = (*model)->info();
  EXPECT_EQ(info.summary.epochs(), 3 * kEach);
  EXPECT_EQ(info.history.size(), static_cast<size_t>(kEach));
  EXPECT_EQ((*model)->ensemble().size(), 2u);
  // The summary's seconds are the whole training's: the last network's
  // last epoch is in them.
  EXPECT_GE(info.summary.seconds(), seen.back().elapsed_seconds);

  // With class labels the served network's supervised phase comes last,
  // counted once.
  testing::Blobs blobs = testing::GaussianBlobs(300, 6, 3, 17, 0.5);
  config.set_pretrain_epochs(0);
  config.mutable_supervised()->set_epochs(4);
  config.mutable_supervised()->set_head_epochs(0);  // their count: supervised_phase_test
  config.mutable_early_stopping()->set_patience(0);
  seen.clear();
  options.class_names = {"a", "b", "c"};
  model = Train(config, blobs.rows, options, blobs.classes);
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_EQ(seen.size(), 3u * 5 + 4);
  EXPECT_EQ(seen.back().epochs_planned, 3 * 5 + 4);
  EXPECT_EQ(seen.back().network, 1);
  EXPECT_EQ(seen.back().record.phase(), v1::EpochRecord::SUPERVISED);
  EXPECT_EQ(seen[3 * 5 - 1].network, 3);
  EXPECT_EQ((*model)->info().summary.epochs(), 3 * 5 + 4);
}

// pretrain_epochs x depth + finetune_epochs overflowed int (both within the
// config's limits), and progress reported a negative plan.
TEST(TrainerTest, ThePlannedEpochCountDoesNotOverflow) {
  v1::TrainConfig config;
  for (int i = 0; i < 2200; ++i) config.add_encoder_widths(1);
  config.set_pretrain_epochs(kMaxEpochs);
  std::atomic<bool> cancel{false};
  int planned = 0;
  Trainer::Options options;
  options.cancel = &cancel;
  options.on_epoch = [&](const TrainProgress& p) {
    planned = p.epochs_planned;
    EXPECT_GE(p.eta_seconds, 0);
    cancel = true;
  };
  auto model = Train(config, testing::GaussianMatrix(60, 2, 1), options);
  EXPECT_EQ(model.status().code(), absl::StatusCode::kCancelled) << model.status();
  EXPECT_EQ(planned, std::numeric_limits<int>::max());
}

}  // namespace
}  // namespace strata
