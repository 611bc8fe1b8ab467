// strata eval against the real server: anomaly metrics agree with the scores
// `strata score` prints, and the linear probe ranks feature sets sensibly on
// data whose classes live in the code.
#include <fstream>
#include <random>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/csv_reader.h"
#include "core/evaluation.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/server_process.h"
#include "tests/testing/test_models.h"

namespace strata {
namespace {

using ::testing::HasSubstr;
using testing::ShellResult;

// The value of `key` on the RESULT line (NaN if missing).
double ResultValue(const std::string& output, const std::string& key) {
  const size_t line = output.find("RESULT ");
  const size_t at = output.find(" " + key + "=", line);
  double v = std::nan("");
  if (line == std::string::npos || at == std::string::npos) return v;
  const size_t start = at + key.size() + 2;
  (void)absl::SimpleAtod(output.substr(start, output.find_first_of(" \n", start) - start), &v);
  return v;
}

class EvalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::ScratchDir(
        absl::StrCat("eval_", ::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::system(("mkdir -p " + dir_ + "/data").c_str());
    server_ = std::make_unique<testing::ServerProcess>(dir_);
    ASSERT_GT(server_->port(), 0);
  }
  // Version 1 of "thyroid", trained on the whole demo set.
  void TrainThyroid() {
    const ShellResult train =
        server_->Strata("train --model thyroid --data data/thyroid.csv --drop_columns label "
                        "--config data/configs/thyroid.json --wait --quiet");
    ASSERT_EQ(train.exit_code, 0) << train.output;
  }
  std::string dir_;
  std::unique_ptr<testing::ServerProcess> server_;
};

TEST_F(EvalTest, AnomalyMetricsMatchTheScoresOfEachRow) {
  TrainThyroid();
  const ShellResult eval =
      server_->Strata("eval --model thyroid --data data/thyroid.csv --label_column label");
  ASSERT_EQ(eval.exit_code, 0) << eval.output;
  EXPECT_THAT(eval.output, HasSubstr("anomalies (label = 1): 93 of 3772 rows"));
  // The same scores, row by row, from `strata score`; the AUC computed here.
  const ShellResult score = server_->Strata(
      "score --model thyroid --drop_columns label < data/thyroid.csv 2>/dev/null");
  ASSERT_EQ(score.exit_code, 0);
  CsvOptions csv;
  csv.drop_columns = {"f0", "f1", "f2", "f3", "f4", "f5"};
  const CsvTable labels = *ReadCsvFile("data/thyroid.csv", csv);
  std::vector<double> scores;
  std::vector<int> y;
  for (absl::string_view line : absl::StrSplit(score.output, '\n', absl::SkipEmpty())) {
    double s = 0;
    if (!absl::SimpleAtod(line.substr(0, line.find(',')), &s)) continue;  // header
    y.push_back(static_cast<int>(labels.values(static_cast<Eigen::Index>(scores.size()), 0)));
    scores.push_back(s);
  }
  ASSERT_EQ(scores.size(), 3772u);
  EXPECT_NEAR(ResultValue(eval.output, "auc"), RocAuc(scores, y), 1e-4);
  EXPECT_NEAR(ResultValue(eval.output, "average_precision"), AveragePrecision(scores, y), 1e-4);
  EXPECT_GT(ResultValue(eval.output, "auc"), 0.7);  // far from chance on thyroid
}

TEST_F(EvalTest, LinearProbeOnCodesOfClassesLivingInTheCode) {
  // Three classes on a 2-D manifold embedded in 8 dimensions: the class is the
  // manifold coordinate's region, so a 2-wide code keeps it.
  std::mt19937 rng(5);
  std::normal_distribution<float> noise(0, 0.05f);
  std::uniform_real_distribution<float> u(-1, 1);
  {
    std::ofstream out(dir_ + "/data/classes.csv");
    out << "a,b,c,d,e,f,g,h,class\n";
    for (int r = 0; r < 900; ++r) {
      const float s = u(rng), t = u(rng);
      const int k = s < -0.33f ? 0 : s < 0.33f ? 1 : 2;
      const float v[8] = {s, t, s + t, s - t, 0.5f * s, std::sin(2 * s), std::cos(t), s * t};
      for (float x : v) out << x + noise(rng) << ",";
      out << k << "\n";
    }
  }
  ASSERT_EQ(server_->Strata("train --model m --data " + dir_ +
                            "/data/classes.csv --drop_columns class --wait --quiet "
                            "--config data/configs/thyroid.json")
                .exit_code,
            0);
  const ShellResult eval = server_->Strata(
      "eval --model m --data " + dir_ + "/data/classes.csv --label_column class");
  ASSERT_EQ(eval.exit_code, 0) << eval.output;
  EXPECT_THAT(eval.output, HasSubstr("linear probe, 3 classes"));
  // The raw features hold the class linearly (column a); the 3-wide code
  // (thyroid config: 16-8-3) keeps most of it, far above chance (1/3).
  EXPECT_GT(ResultValue(eval.output, "probe_raw"), 0.9);
  EXPECT_GT(ResultValue(eval.output, "probe_codes"), 0.75);
  EXPECT_GT(ResultValue(eval.output, "probe_pca"), 0.75);
  EXPECT_EQ(ResultValue(eval.output, "code_width"), 3);
}

TEST_F(EvalTest, BadLabelsAreOneLineErrors) {
  TrainThyroid();
  const ShellResult missing =
      server_->Strata("eval --model thyroid --data data/thyroid.csv --label_column nope");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.output, HasSubstr("no column 'nope'"));
  // A fractional label: named by line and column.
  const ShellResult fractional =
      server_->Strata("eval --model thyroid --data data/thyroid.csv --label_column f0");
  EXPECT_EQ(fractional.exit_code, 1);
  EXPECT_THAT(fractional.output, HasSubstr("line 2, column f0"));
  const ShellResult wrong_model =
      server_->Strata("eval --model nope --data data/thyroid.csv --label_column label");
  EXPECT_EQ(wrong_model.exit_code, 1);
  EXPECT_THAT(wrong_model.output, HasSubstr("nope"));
}

}  // namespace
}  // namespace strata
