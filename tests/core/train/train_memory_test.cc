#include "core/train/train_memory.h"

#include <sys/resource.h>

#include <iostream>
#include <limits>

#include "core/train/train_config.h"
#include "core/train/trainer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/synthetic_data.h"

namespace strata {
namespace {

using ::testing::HasSubstr;

v1::TrainConfig Resolved(v1::TrainConfig config, int input_dim) {
  absl::StatusOr<v1::TrainConfig> r = ResolveTrainConfig(config, input_dim);
  EXPECT_TRUE(r.ok()) << r.status();
  return *r;
}

TEST(TrainMemoryTest, SmallConfigByHand) {
  // 4 inputs, encoder [2, 1], untied, SGD without momentum, no early
  // stopping, batch 10, 100 rows, no pretraining.
  v1::TrainConfig c;
  c.add_encoder_widths(2);
  c.add_encoder_widths(1);
  c.mutable_optimizer()->set_kind(v1::OptimizerConfig::SGD);
  c.mutable_optimizer()->set_momentum(0);
  c.mutable_early_stopping()->set_patience(0);
  c.set_batch_size(10);
  const TrainingMemory m = EstimateTrainingMemory(Resolved(c, 4), 4, 100);
  // Data: raw, scaled, train + validation = 3 x 100 x 4 floats.
  EXPECT_EQ(m.data_bytes, 3 * 100 * 4 * 4);
  // Parameters: 4x2+2, 2x1+1 (encoder), 1x2+2, 2x4+4 (decoder) = 29;
  // weights, gradients and the artifact twice = 4 copies; 400 values take
  // the default 5 networks, the other 4 kept and in the artifact twice.
  EXPECT_EQ(m.parameter_bytes, 29 * 4 * (4 + 3 * 4));
  // Layer outputs and input: 4 + (2+4) + (1+2) = 13 widths; the evaluation
  // chunk (100 rows, twice) is larger than 4 x the batch of 10.
  EXPECT_EQ(m.activation_bytes, 2 * 100 * 13 * 4);
  // Codes 100 x 1 (float), a sample of 100 x 1 four times (double), five
  // 1 x 1 matrices (double), six score vectors, the precision twice; the
  // ensemble score's 5 networks' codes, the scaled rows, a sorted column,
  // 4 x 1024 knots, and 5 precisions twice; the forest's row index (8
  // bytes a row), two more score vectors, and 100 trees of at most 511
  // nodes of 12 bytes, twice.
  EXPECT_EQ(m.calibration_bytes, 100 * 4 + 4 * 100 * 8 + 5 * 8 + 6 * 100 * 4 + 2 * 4 +
                                     4 * (5 * 100 + 100 * 4 + 100 + 4 * 1024) + 2 * 5 * 4 +
                                     8 * 100 + 2 * 100 * 4 + 2 * 12 * 100 * 511);
  EXPECT_EQ(m.total_bytes(),
            m.data_bytes + m.parameter_bytes + m.activation_bytes + m.calibration_bytes);
}

// A mini-batch keeps 4 copies of every layer's width; batch normalisation
// adds the normalised values and its output, a skip the sum and its
// gradient.
TEST(TrainMemoryTest, NormalisationAndSkipsCountTheirCopiesOfTheBatch) {
  v1::TrainConfig c;
  c.add_encoder_widths(4);  // 4 -> 4: a skip with residual
  c.add_encoder_widths(2);
  c.set_batch_size(100);
  // Widths 4 + (4+4) + (2+4) = 18; 4 copies of 100 rows beat the evaluation
  // chunk's 2 copies.
  EXPECT_EQ(EstimateTrainingMemory(Resolved(c, 4), 4, 100).activation_bytes, 4 * 100 * 18 * 4);
  c.set_batch_norm(v1::AFTER_ACTIVATION);
  EXPECT_EQ(EstimateTrainingMemory(Resolved(c, 4), 4, 100).activation_bytes, 6 * 100 * 18 * 4);
  c.set_residual(true);
  EXPECT_EQ(EstimateTrainingMemory(Resolved(c, 4), 4, 100).activation_bytes, 8 * 100 * 18 * 4);
}

TEST(TrainMemoryTest, WideCodeIsDominatedByTheCalibration) {
  v1::TrainConfig c;
  c.add_encoder_widths(16384);
  const TrainingMemory m = EstimateTrainingMemory(Resolved(c, 1), 1, 2 * 16384);
  EXPECT_GE(m.calibration_bytes, int64_t{5} * 16384 * 16384 * 8);
  EXPECT_GT(m.total_bytes(), int64_t{10} << 30);
}

TEST(TrainMemoryTest, HostileSizesSaturateInsteadOfOverflowing) {
  v1::TrainConfig c;
  for (int i = 0; i < 8; ++i) c.add_encoder_widths(kMaxLayerWidth);
  const TrainingMemory m =
      EstimateTrainingMemory(c, kMaxLayerWidth, std::numeric_limits<int64_t>::max() / 2);
  EXPECT_EQ(m.total_bytes(), std::numeric_limits<int64_t>::max());
  EXPECT_GT(m.data_bytes, 0);
  EXPECT_EQ(CheckTrainingMemory(m, int64_t{1} << 40).code(), absl::StatusCode::kResourceExhausted);
}

TEST(TrainMemoryTest, CheckNamesTheEstimateAndTheFlag) {
  TrainingMemory m;
  m.data_bytes = 3 << 20;
  m.calibration_bytes = int64_t{2} << 30;
  EXPECT_TRUE(CheckTrainingMemory(m, 0).ok()) << "0 is no limit";
  EXPECT_TRUE(CheckTrainingMemory(m, int64_t{3} << 30).ok());
  const absl::Status s = CheckTrainingMemory(m, int64_t{1} << 30);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(s.message(), HasSubstr("about 2.0 GiB (data 3.0 MiB"));
  EXPECT_THAT(s.message(), HasSubstr("calibration 2.0 GiB"));
  EXPECT_THAT(s.message(), HasSubstr("allows 1.0 GiB per job (--max_job_memory)"));
}

TEST(TrainMemoryTest, ParseBytes) {
  EXPECT_EQ(*ParseBytes("1073741824"), int64_t{1} << 30);
  EXPECT_EQ(*ParseBytes("512MiB"), int64_t{512} << 20);
  EXPECT_EQ(*ParseBytes("8G"), int64_t{8} << 30);
  EXPECT_EQ(*ParseBytes("1.5gib"), int64_t{3} << 29);
  EXPECT_EQ(*ParseBytes("64KB"), 64 << 10);
  EXPECT_EQ(*ParseBytes("100B"), 100);
  for (const char* bad : {"", "G", "-1G", "1X", "lots", "1e30", "nan"}) {
    EXPECT_EQ(ParseBytes(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

// The estimate against a real run: the process's peak resident memory grows
// by no more than the estimate, and by at least a quarter of it (an estimate
// far above the truth would refuse jobs that fit). The calibration's k x k
// matrices dominate, as in the jobs the limit exists for.
TEST(TrainMemoryTest, BoundsThePeakOfARealRun) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "sanitizers change what memory a run takes";
#else
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
  GTEST_SKIP() << "sanitizers change what memory a run takes";
#endif
#endif
  constexpr int kInputs = 32, kCode = 1024, kRows = 2 * kCode;
  const Matrix data = testing::ManifoldData(kRows, kInputs, 4, 3);
  v1::TrainConfig config;
  config.add_encoder_widths(kCode);
  config.set_finetune_epochs(1);
  config.set_threads(1);
  Trainer::Options options;
  options.config = config;
  options.input_dim = kInputs;
  auto trainer = Trainer::Create(options);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  const TrainingMemory estimate = EstimateTrainingMemory((*trainer)->config(), kInputs, kRows);
  rusage before;
  getrusage(RUSAGE_SELF, &before);
  absl::StatusOr<std::unique_ptr<Model> > model = (*trainer)->Train(data);
  ASSERT_TRUE(model.ok()) << model.status();
  rusage after;
  getrusage(RUSAGE_SELF, &after);
  const int64_t grown = (after.ru_maxrss - before.ru_maxrss) * 1024;
  EXPECT_LE(grown, estimate.total_bytes()) << "estimate " << estimate.ToString();
  std::cout << "peak grew by " << FormatBytes(grown) << "; estimate " << estimate.ToString()
            << "\n";
  EXPECT_GE(grown, estimate.total_bytes() / 4) << "estimate " << estimate.ToString();
#endif
}

}  // namespace
}  // namespace strata
