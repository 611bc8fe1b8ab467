// `strata train --local` under Debian's mpirun -np 2: data-parallel
// training gives one process's model (same global batch and seed), every
// rank holds the same weights, rank 0 publishes into the model store that a
// strata-server serves, and a rank that dies fails the job with nothing
// published. (The same trainer with thread ranks: tests/core/train/data_parallel_test.cc.)
#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/model/model_io.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/model_diff.h"
#include "tests/testing/server_process.h"
#include "tests/testing/shell.h"
#include "tests/testing/synthetic_data.h"
#include "tests/testing/test_models.h"

namespace strata {
namespace {

using ::testing::HasSubstr;

// mpirun refuses root unless told; CI containers run as root.
constexpr char kMpirun[] =
    "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun -np 2 --oversubscribe ";

void WriteCsv(const Matrix& rows, const std::string& path) {
  std::ofstream out(path);
  for (Eigen::Index c = 0; c < rows.cols(); ++c) out << (c ? "," : "") << "c" << c;
  out << "\n";
  out.precision(9);
  for (Eigen::Index r = 0; r < rows.rows(); ++r) {
    for (Eigen::Index c = 0; c < rows.cols(); ++c) out << (c ? "," : "") << rows(r, c);
    out << "\n";
  }
}

// `extra`: more fields, e.g. "\"early_stopping\": {\"patience\": 0}, ".
std::string Config(const std::string& dir, int batch_size, int finetune_epochs = 8,
                   const std::string& extra = "") {
  const std::string path = absl::StrCat(dir, "/config", batch_size, ".json");
  std::ofstream(path) << "{" << extra << "\"encoder_widths\": [6, 3], \"pretrain_epochs\": 3, "
                      << "\"finetune_epochs\": " << finetune_epochs
                      << ", \"batch_size\": " << batch_size
                      << ", \"seed\": 7, \"threads\": 1, \"anomaly\": {\"ensemble_size\": 1}}";
  return path;
}

std::string Strata(const std::string& args) { return absl::StrCat(STRATA_CLI_PATH, " ", args); }

// The `weights crc32c` each rank printed, by rank.
std::map<int, std::string> RankChecksums(const std::string& output) {
  std::map<int, std::string> out;
  const std::regex line("rank ([0-9]+) of 2: weights crc32c ([0-9a-f]{8})");
  for (std::sregex_iterator it(output.begin(), output.end(), line), end; it != end; ++it) {
    out[std::stoi((*it)[1])] = (*it)[2];
  }
  return out;
}

void ExpectSameModel(const Model& alone, const Model& ranks) {
  EXPECT_LT(testing::MaxRelativeWeightDifference(alone, ranks), 1e-4);
  const v1::AnomalyCalibration& a = alone.info().calibration;
  const v1::AnomalyCalibration& b = ranks.info().calibration;
  EXPECT_LT(testing::RelativeDifference(a.mean_squared().threshold(), b.mean_squared().threshold()),
            1e-4);
  EXPECT_LT(testing::RelativeDifference(a.combined().threshold(), b.combined().threshold()), 1e-4);
  EXPECT_LT(
      testing::RelativeDifference(a.mean_absolute().threshold(), b.mean_absolute().threshold()),
      1e-4);
  EXPECT_EQ(ranks.info().drift_baseline.training_rows(),
            alone.info().drift_baseline.training_rows());
}

TEST(MpiTrainE2eTest, TwoRanksTrainOneProcessesModelAndRankZeroPublishesIt) {
  const std::string dir = testing::ScratchDir("e2e_mpi_train");
  const Matrix data = testing::ManifoldData(1203, 8, 3, 5);
  WriteCsv(data, dir + "/all.csv");
  std::system(("mkdir -p " + dir + "/shards").c_str());
  WriteCsv(data.topRows(400), dir + "/shards/part-0.csv");
  WriteCsv(data.middleRows(400, 300), dir + "/shards/part-1.csv");
  WriteCsv(data.bottomRows(503), dir + "/shards/part-2.csv");

  // One process, batch 64; two ranks, 32 each.
  const testing::ShellResult alone =
      testing::Shell(Strata(absl::StrCat("train --local --quiet --data ", dir, "/all.csv --out ",
                                         dir, "/alone --config ", Config(dir, 64))));
  ASSERT_EQ(alone.exit_code, 0) << alone.output;
  const std::unique_ptr<Model> one = *ReadModelFile(dir + "/alone/model.strata");

  // Every 2nd row of one file.
  const testing::ShellResult rows = testing::Shell(absl::StrCat(
      kMpirun, Strata(absl::StrCat("train --local --quiet --data ", dir, "/all.csv --out ", dir,
                                   "/ranks --config ", Config(dir, 32)))));
  ASSERT_EQ(rows.exit_code, 0) << rows.output;
  EXPECT_THAT(rows.output, HasSubstr("rank 1 of 2"));
  EXPECT_THAT(rows.output, HasSubstr("602 rows, every 2-th row of"));
  const std::map<int, std::string> checksums = RankChecksums(rows.output);
  ASSERT_EQ(checksums.size(), 2u) << rows.output;
  EXPECT_EQ(checksums.at(0), checksums.at(1));
  ExpectSameModel(*one, **ReadModelFile(dir + "/ranks/model.strata"));

  // Shards from a glob (rank 0: part-0; rank 1: part-1 and part-2),
  // published into a store as the next version, which a server then serves.
  const testing::ShellResult shards = testing::Shell(absl::StrCat(
      kMpirun,
      Strata(absl::StrCat("train --local --quiet --data '", dir, "/shards/part-*.csv' --store ",
                          dir, "/models --model m ", "--config ", Config(dir, 32)))));
  ASSERT_EQ(shards.exit_code, 0) << shards.output;
  EXPECT_THAT(shards.output, HasSubstr("2 shards, "));
  const std::map<int, std::string> shard_checksums = RankChecksums(shards.output);
  ASSERT_EQ(shard_checksums.size(), 2u) << shards.output;
  EXPECT_EQ(shard_checksums.at(0), shard_checksums.at(1));
  EXPECT_THAT(shards.output, HasSubstr("model written to " + dir + "/models/m/1/model.strata"));
  ExpectSameModel(*one, **ReadModelFile(dir + "/models/m/1/model.strata"));
  testing::ServerProcess server(dir);
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  std::string models;
  while (absl::Now() < deadline) {
    models = server.Strata("models").output;
    if (models.find("m ") != std::string::npos || models.find("m\t") != std::string::npos) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_THAT(models, HasSubstr("m")) << models;
  const auto score = server.Strata("score --model m --version 1 < " + dir + "/shards/part-1.csv");
  EXPECT_EQ(score.exit_code, 0) << score.output.substr(0, 300);

  // --mapped: each rank trains from a row file of its own shards.
  const testing::ShellResult mapped = testing::Shell(
      absl::StrCat(kMpirun, Strata(absl::StrCat("train --local --quiet --mapped --data '", dir,
                                                "/shards/part-*.csv' --out ", dir,
                                                "/mapped --config ", Config(dir, 32)))));
  ASSERT_EQ(mapped.exit_code, 0) << mapped.output;
  EXPECT_THAT(mapped.output, HasSubstr("converted --data into " + dir + "/shards/.strata-rows-"));
  EXPECT_THAT(mapped.output, HasSubstr("(1 shards)"));
  EXPECT_THAT(mapped.output, HasSubstr("(2 shards)"));
  const std::map<int, std::string> mapped_checksums = RankChecksums(mapped.output);
  ASSERT_EQ(mapped_checksums.size(), 2u) << mapped.output;
  EXPECT_EQ(mapped_checksums.at(0), mapped_checksums.at(1));
  ExpectSameModel(*one, **ReadModelFile(dir + "/mapped/model.strata"));
  const testing::ShellResult mapped_one_file = testing::Shell(
      absl::StrCat(kMpirun, Strata(absl::StrCat("train --local --quiet --mapped --data ", dir,
                                                "/all.csv --out ", dir, "/mapped_one"))));
  EXPECT_NE(mapped_one_file.exit_code, 0);
  EXPECT_THAT(mapped_one_file.output,
              HasSubstr("2 ranks for 1 shards: give at least one shard per rank, or train one "
                        "file in one process"));

  // Shards whose columns differ fail on both ranks, saying why.
  std::ofstream(dir + "/shards/part-3.csv") << "x0,x1\n1,2\n";
  const testing::ShellResult mixed = testing::Shell(
      absl::StrCat(kMpirun, Strata(absl::StrCat("train --local --quiet --data '", dir,
                                                "/shards/part-[23].csv' --out ", dir, "/mixed"))));
  EXPECT_NE(mixed.exit_code, 0);
  EXPECT_THAT(mixed.output, HasSubstr("rank 1's data has the columns x0,x1"));
  EXPECT_EQ(access((dir + "/mixed/model.strata").c_str(), F_OK), -1);

  // Class labels are refused on every rank, and so is a server job (each
  // rank would submit one).
  const testing::ShellResult labels = testing::Shell(absl::StrCat(
      kMpirun, Strata(absl::StrCat("train --local --quiet --data ", dir, "/all.csv --out ", dir,
                                   "/labels --label_column c7"))));
  EXPECT_NE(labels.exit_code, 0);
  EXPECT_THAT(labels.output, HasSubstr("--label_column: class labels"));
  const testing::ShellResult remote = testing::Shell(
      absl::StrCat(kMpirun, Strata(absl::StrCat("train --model m --data ", dir, "/all.csv"))));
  EXPECT_NE(remote.exit_code, 0);
  EXPECT_THAT(remote.output, HasSubstr("under mpirun, train with --local"));

  // A file whose name holds glob or list characters is that file.
  std::system(("cp " + dir + "/all.csv '" + dir + "/runs[1],b.csv'").c_str());
  const testing::ShellResult odd = testing::Shell(
      Strata(absl::StrCat("train --local --quiet --data '", dir, "/runs[1],b.csv' --out ", dir,
                          "/odd --config ", Config(dir, 64))));
  EXPECT_EQ(odd.exit_code, 0) << odd.output;
}

TEST(MpiTrainE2eTest, ARankThatDiesFailsTheJobAndNothingIsPublished) {
  const std::string dir = testing::ScratchDir("e2e_mpi_train_dies");
  WriteCsv(testing::ManifoldData(20000, 16, 4, 3), dir + "/big.csv");
  // Long enough that rank 1 is killed mid-training.
  const std::string config =
      Config(dir, 32, /*finetune_epochs=*/100000, "\"early_stopping\": {\"patience\": 0}, ");
  const std::string log = dir + "/mpirun.log";
  const pid_t mpirun = testing::Spawn(
      absl::StrCat("exec env ", kMpirun,
                   Strata(absl::StrCat("train --local --quiet --data ", dir, "/big.csv --store ",
                                       dir, "/models --model m --config ", config)),
                   " > ", log, " 2>&1"));
  ASSERT_GT(mpirun, 0);
  // "rank 1 of 2 (pid N): ..." once rank 1 has read its rows.
  int rank1 = 0;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  std::smatch m;
  while (rank1 == 0 && absl::Now() < deadline) {
    const std::string text = testing::ReadAll(log);
    if (std::regex_search(text, m, std::regex("rank 1 of 2 \\(pid ([0-9]+)\\)"))) {
      rank1 = std::stoi(m[1]);
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_GT(rank1, 0) << testing::ReadAll(log);
  absl::SleepFor(absl::Seconds(2));  // into the epochs
  ASSERT_EQ(kill(rank1, SIGKILL), 0) << testing::ReadAll(log);
  // mpirun ends the job (bounded wait).
  int status = 0;
  pid_t done = 0;
  const absl::Time exit_deadline = absl::Now() + absl::Seconds(60);
  while ((done = waitpid(mpirun, &status, WNOHANG)) == 0 && absl::Now() < exit_deadline) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  if (done == 0) {
    kill(mpirun, SIGKILL);
    waitpid(mpirun, &status, 0);
    FAIL() << "mpirun did not end after rank 1 died: " << testing::ReadAll(log);
  }
  EXPECT_TRUE(!WIFEXITED(status) || WEXITSTATUS(status) != 0) << testing::ReadAll(log);
  EXPECT_THAT(testing::ReadAll(log), HasSubstr("rank 1"));
  // Nothing published, nothing half-written.
  EXPECT_EQ(testing::Shell("ls -A " + dir + "/models/m 2>/dev/null | grep -v '^$' | wc -l")
                .output.substr(0, 1),
            "0")
      << testing::Shell("ls -laR " + dir + "/models").output;
}

}  // namespace
}  // namespace strata
