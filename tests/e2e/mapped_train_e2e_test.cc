// `strata train --local --mapped` trains from CSV shards four times larger
// than the memory the trainer process may allocate (RLIMIT_DATA), to the
// model the same rows give in memory, and the two models score alike.
//
// Why RLIMIT_DATA: it bounds what the process can allocate (heap and private
// mappings: what holding the data would take), while the row file's shared,
// read-only mapping is page cache the kernel can drop and re-read, as
// under a cgroup's memory limit in Kubernetes. RLIMIT_AS would count that
// mapping's address space, which is not memory.
#include <unistd.h>

#include <fstream>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/base/file_util.h"
#include "core/data/csv_reader.h"
#include "core/data/row_file.h"
#include "core/model/model_io.h"
#include "core/scoring/anomaly.h"
#include "core/train/train_config.h"
#include "core/train/trainer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/model_diff.h"
#include "tests/testing/shell.h"

namespace strata {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kLimitBytes = int64_t{64} << 20;
constexpr int kCols = 64;
constexpr int kShards = 16;
constexpr int kShardRows = 65536;  // 16 x 65536 x 64 x 4 B = 256 MiB of float32
constexpr char kConfig[] =
    R"({"encoder_widths": [32, 8], "pretrain_epochs": 1, "finetune_epochs": 2,
        "batch_size": 128, "threads": 1, "seed": 5})";
constexpr int kCalibrationValues = 1 << 20;

// Integer cells 0..99 near a 4-dimensional manifold: short CSV text.
void WriteShards(const std::string& dir) {
  std::mt19937_64 rng(17);
  std::normal_distribution<double> normal;
  Eigen::MatrixXd a(4, kCols);
  for (Eigen::Index i = 0; i < a.size(); ++i) a.data()[i] = normal(rng);
  std::string line;
  for (int s = 0; s < kShards; ++s) {
    std::ofstream out(absl::StrCat(dir, "/part-", s < 10 ? "0" : "", s, ".csv"));
    for (int c = 0; c < kCols; ++c) out << (c ? ",c" : "c") << c;
    out << "\n";
    for (int r = 0; r < kShardRows; ++r) {
      Eigen::RowVectorXd z(4);
      for (int k = 0; k < 4; ++k) z(k) = normal(rng);
      const Eigen::RowVectorXd x = (z * a).array().tanh();
      line.clear();
      for (int c = 0; c < kCols; ++c) {
        const int v =
            std::clamp(static_cast<int>(std::lround(50 + 30 * x(c) + 2 * normal(rng))), 0, 99);
        absl::StrAppend(&line, c ? "," : "", v);
      }
      out << line << "\n";
    }
  }
}

std::string Limited(const std::string& command) {
  return absl::StrCat("ulimit -d ", kLimitBytes / 1024, " && ", STRATA_CLI_PATH, " ", command);
}

TEST(MappedTrainE2eTest, ShardsFourTimesTheMemoryLimitTrainTheModelTheyTrainInMemory) {
  const std::string dir = ::testing::TempDir() + "/strata_mapped_e2e";
  testing::Shell("rm -rf '" + dir + "'");
  ASSERT_TRUE(CreateDirectories(dir + "/shards").ok());
  WriteShards(dir + "/shards");
  std::ofstream(dir + "/config.json") << kConfig;
  const std::string flags =
      absl::StrCat("--data ", dir, "/shards --config ", dir, "/config.json --quiet");

  // In memory, the limit stops it: the data does not fit.
  const testing::ShellResult memory_run =
      testing::Shell(Limited(absl::StrCat("train --local ", flags, " --out ", dir, "/memory")));
  EXPECT_EQ(memory_run.exit_code, 1) << memory_run.output;
  EXPECT_THAT(memory_run.output, HasSubstr("out of memory"));

  const testing::ShellResult mapped_run = testing::Shell(
      Limited(absl::StrCat("train --local --mapped ", flags, " --calibration_values ",
                           kCalibrationValues, " --out ", dir, "/mapped")));
  ASSERT_EQ(mapped_run.exit_code, 0) << mapped_run.output;
  EXPECT_THAT(mapped_run.output,
              HasSubstr("converted --data into " + dir + "/shards/.strata-rows-"));
  EXPECT_THAT(mapped_run.output,
              HasSubstr("training on 1048576 rows x 64 features from " + dir + "/shards"));
  absl::StatusOr<std::unique_ptr<Model>> mapped = ReadModelFile(dir + "/mapped/model.strata");
  ASSERT_TRUE(mapped.ok()) << mapped.status();

  // The same rows in this process's memory, with the same shuffle blocks.
  RowFile::Source source;
  source.files = *ListDataFiles(dir + "/shards");
  absl::StatusOr<std::unique_ptr<RowFile>> file = RowFile::FromCsv(source);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_FALSE((*file)->converted());  // the CLI's file, up to date
  const int64_t data_bytes = int64_t{4} * (*file)->rows().size();
  EXPECT_GE(data_bytes, 4 * kLimitBytes);
  std::cout << "data " << data_bytes / (1 << 20) << " MiB of float32, limit "
            << kLimitBytes / (1 << 20) << " MiB\n";
  const Matrix rows = (*file)->rows();
  file->reset();
  Trainer::Options options;
  absl::StatusOr<v1::TrainConfig> config = ParseTrainConfigJson(kConfig);
  ASSERT_TRUE(config.ok()) << config.status();
  options.config = *config;
  options.input_dim = kCols;
  options.feature_names = (*mapped)->info().feature_names;
  options.shuffle_block_rows = DefaultShuffleBlockRows(kCols);
  absl::StatusOr<std::unique_ptr<Model>> memory = (*Trainer::Create(options))->Train(rows);
  ASSERT_TRUE(memory.ok()) << memory.status();

  // The same computation, so the same bits: the same batches of the same
  // scaled rows, every product reduced in an order that does not depend on
  // how many rows it holds (the CLI computes pretraining's codes batch by
  // batch from the mapping, this process all at once), on any CPU. On an
  // AVX2 machine the two once ended 0.3 apart in relative weight.
  const v1::TrainingSummary& a = (*memory)->info().summary;
  const v1::TrainingSummary& b = (*mapped)->info().summary;
  std::cout << "final train loss: in memory " << a.final_train_loss() << ", mapped "
            << b.final_train_loss() << "\n";
  EXPECT_EQ(a.epochs(), b.epochs());
  EXPECT_EQ(testing::FirstWeightDifference(**memory, **mapped), "");
  EXPECT_EQ(a.final_train_loss(), b.final_train_loss());
  EXPECT_EQ(a.final_validation_loss(), b.final_validation_loss());

  // Scoring: each row's error equal (the same weights); the thresholds (the
  // mapped model's from every 64th row) within the sample's error, and the
  // rows above them nearly the same ones.
  const Matrix some = rows.topRows(20000);
  Matrix code_a, code_b;
  const Matrix errors_a = FeatureErrors((*memory)->autoencoder(), (*memory)->scaler(), some,
                                        ScoreMetric::kCombined, &code_a);
  const Matrix errors_b = FeatureErrors((*mapped)->autoencoder(), (*mapped)->scaler(), some,
                                        ScoreMetric::kCombined, &code_b);
  const v1::AnomalyCalibration& ca = (*memory)->info().calibration;
  const v1::AnomalyCalibration& cb = (*mapped)->info().calibration;
  const Eigen::VectorXf mse_a = RowScores(ca, ScoreMetric::kMeanSquared, errors_a, code_a);
  const Eigen::VectorXf mse_b = RowScores(cb, ScoreMetric::kMeanSquared, errors_b, code_b);
  EXPECT_EQ(mse_a, mse_b);
  const Eigen::VectorXf combined_a = RowScores(ca, ScoreMetric::kCombined, errors_a, code_a);
  const Eigen::VectorXf combined_b = RowScores(cb, ScoreMetric::kCombined, errors_b, code_b);
  const double ta = ScoreDistributionOf(ca, ScoreMetric::kCombined).threshold();
  const double tb = ScoreDistributionOf(cb, ScoreMetric::kCombined).threshold();
  EXPECT_LT(testing::RelativeDifference(ta, tb), 0.03) << ta << " vs " << tb;
  // The code's Gaussian also comes from the sample: combined scores close
  // (the median row's within 2%).
  Eigen::VectorXf gap = (combined_a - combined_b).array().abs() / combined_a.array();
  std::nth_element(gap.data(), gap.data() + gap.size() / 2, gap.data() + gap.size());
  EXPECT_LT(gap(gap.size() / 2), 0.02);
  int flagged_a = 0, flagged_b = 0, disagree = 0;
  for (Eigen::Index r = 0; r < some.rows(); ++r) {
    flagged_a += combined_a(r) > ta;
    flagged_b += combined_b(r) > tb;
    disagree += (combined_a(r) > ta) != (combined_b(r) > tb);
  }
  std::cout << "combined threshold " << ta << " vs " << tb << "; rows above it: " << flagged_a
            << " vs " << flagged_b << " of 20000, " << disagree << " flagged by one only\n";
  // About 1% flagged by each; those flagged by one only lie between the
  // two thresholds: at most 0.5% of the rows.
  EXPECT_GT(flagged_a, 100);
  EXPECT_LE(std::abs(flagged_a - flagged_b), 60);
  EXPECT_LE(disagree, 100);
  EXPECT_EQ((*mapped)->info().drift_baseline.training_rows(), 1048576);
}

}  // namespace
}  // namespace strata
