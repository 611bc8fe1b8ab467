// strata eval against the real server: anomaly metrics agree with the scores
// `strata score` prints, the linear probe ranks feature sets sensibly on
// data whose classes live in the code, and the classifier head's figures
// agree with the classes `strata predict` prints.
#include <fstream>
#include <random>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/data/csv_reader.h"
#include "core/model/model_io.h"
#include "core/scoring/evaluation.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/server_process.h"
#include "tests/testing/synthetic_data.h"
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
    const ShellResult train = server_->Strata(
        "train --model thyroid --data data/thyroid.csv --drop_columns label "
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
  // The figures are of the scores `strata score` prints for the same rows
  // (that the figures themselves are right is checked by hand below).
  const ShellResult score =
      server_->Strata("score --model thyroid --drop_columns label < data/thyroid.csv 2>/dev/null");
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

// Writes `artifact` as version 1 of `name` into the server's store (renamed
// in whole, as an operator would) and waits (bounded) until it is served.
void ServeByHand(const testing::ServerProcess& server, const std::string& dir,
                 const std::string& name, const v1::ModelArtifact& artifact) {
  absl::StatusOr<std::unique_ptr<Model>> model = ModelFromArtifact(artifact);
  ASSERT_TRUE(model.ok()) << model.status();
  const std::string incoming = dir + "/models/.incoming";
  std::system(("mkdir -p " + incoming + " " + dir + "/models/" + name).c_str());
  ASSERT_TRUE(WriteModelFile(**model, incoming + "/" + kModelFileName).ok());
  ASSERT_EQ(rename(incoming.c_str(), (dir + "/models/" + name + "/1").c_str()), 0);
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (server.Strata("models").output.find(name) == std::string::npos && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_NE(server.Strata("models").output.find(name), std::string::npos) << "never served";
}

TEST_F(EvalTest, AucAndAveragePrecisionAreTheValuesWorkedOutByHand) {
  // A model whose score is known in closed form: every weight and bias 0 and
  // a linear output reconstruct every row as 0; an identity scaler; no code
  // calibration, so the default score is the MSE. Row (a, b) scores
  // (a^2 + b^2) / 2.
  v1::ModelArtifact artifact = ModelToArtifact(*testing::SmallModel(2, 1));
  for (auto* layers : {artifact.mutable_encoder(), artifact.mutable_decoder()}) {
    for (v1::DenseLayer& layer : *layers) {
      for (float& w : *layer.mutable_weights()) w = 0;
      for (float& b : *layer.mutable_biases()) b = 0;
    }
  }
  artifact.mutable_architecture()->set_output_activation(v1::LINEAR);
  artifact.mutable_scaler()->set_kind(v1::IDENTITY);
  for (float& o : *artifact.mutable_scaler()->mutable_offset()) o = 0;
  for (float& s : *artifact.mutable_scaler()->mutable_scale()) s = 1;
  testing::DropEnsemble(&artifact);
  artifact.mutable_calibration()->clear_code();
  artifact.mutable_calibration()->clear_code_distance();
  artifact.mutable_calibration()->clear_combined();
  artifact.clear_feature_names();
  artifact.add_feature_names("a");
  artifact.add_feature_names("b");
  ServeByHand(*server_, dir_, "hand", artifact);

  // score  label          (rows in file order; the tie at 2 lists its
  //   1      0             positive first, so that taking tied rows one at
  //   2      1  \ tie      a time in file order would change both figures)
  //   2      0  /
  //   4      0
  //   5      1  \ tie
  //   5      1  /
  //   9      0
  //   8      1
  std::ofstream(dir_ + "/data/hand.csv") << "a,b,label\n"
                                            "1,1,0\n"
                                            "0,2,1\n"
                                            "2,0,0\n"
                                            "2,2,0\n"
                                            "3,1,1\n"
                                            "1,3,1\n"
                                            "3,3,0\n"
                                            "4,0,1\n";
  const ShellResult eval =
      server_->Strata("eval --model hand --data " + dir_ + "/data/hand.csv --label_column label");
  ASSERT_EQ(eval.exit_code, 0) << eval.output;
  EXPECT_THAT(eval.output, HasSubstr("anomaly score mean_squared"));
  EXPECT_THAT(eval.output, HasSubstr("anomalies (label = 1): 4 of 8 rows"));
  // ROC-AUC over the 4 x 4 (positive, negative) pairs, a tie counting 1/2:
  //   positive 2 beats negative 1, ties 2, loses to 4 and 9:  1 + 1/2
  //   positive 5 beats 1, 2 and 4, loses to 9:                3
  //   positive 5 likewise:                                    3
  //   positive 8 beats 1, 2 and 4, loses to 9:                3
  //   (1.5 + 3 + 3 + 3) / 16 = 10.5 / 16 = 0.65625
  // (ties as 0: 0.625; as 1: 0.6875.)
  EXPECT_NEAR(ResultValue(eval.output, "auc"), 0.65625, 1e-4);
  // Average precision over distinct thresholds, highest first, tied rows
  // entering together; precision x the recall gained:
  //   >= 9: 1 row,  0 positives, recall 0:    0
  //   >= 8: 2 rows, 1 positive,  recall 1/4:  1/4 x 1/2 = 0.125
  //   >= 5: 4 rows, 3 positives, recall 3/4:  2/4 x 3/4 = 0.375
  //   >= 4: 5 rows, 3 positives: no gain
  //   >= 2: 7 rows, 4 positives, recall 1:    1/4 x 4/7 = 1/7
  //   AP = 0.125 + 0.375 + 1/7 = 9/14 = 0.642857...
  // (Rows taken one at a time in file order instead: 0.6458.)
  EXPECT_NEAR(ResultValue(eval.output, "average_precision"), 9.0 / 14.0, 1e-4);
  // Mean reconstruction MSE: (1 + 2 + 2 + 4 + 5 + 5 + 9 + 8) / 8 = 4.5.
  EXPECT_NEAR(ResultValue(eval.output, "mse_mean"), 4.5, 1e-6);
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
  ASSERT_EQ(server_
                ->Strata("train --model m --data " + dir_ +
                         "/data/classes.csv --drop_columns class --wait --quiet "
                         "--config data/configs/thyroid.json")
                .exit_code,
            0);
  const ShellResult eval =
      server_->Strata("eval --model m --data " + dir_ + "/data/classes.csv --label_column class");
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
  EXPECT_THAT(missing.output, HasSubstr("no label column 'nope'"));
  // A fractional label: named by line and column.
  const ShellResult fractional =
      server_->Strata("eval --model thyroid --data data/thyroid.csv --label_column f0");
  EXPECT_EQ(fractional.exit_code, 1);
  EXPECT_THAT(fractional.output, HasSubstr("line 2, column f0"));
  // Blank lines before it: still the line the row is on.
  std::system(("(head -1 data/thyroid.csv; echo; echo; sed -n 2,60p data/thyroid.csv) > " + dir_ +
               "/blank_lines.csv")
                  .c_str());
  const ShellResult blank =
      server_->Strata("eval --model thyroid --data " + dir_ + "/blank_lines.csv --label_column f0");
  EXPECT_EQ(blank.exit_code, 1);
  EXPECT_THAT(blank.output, HasSubstr("line 4, column f0")) << blank.output;
  const ShellResult wrong_model =
      server_->Strata("eval --model nope --data data/thyroid.csv --label_column label");
  EXPECT_EQ(wrong_model.exit_code, 1);
  EXPECT_THAT(wrong_model.output, HasSubstr("nope"));
}

// Row r of the blobs below is of class kKinds[r % 3].
const char* const kKinds[] = {"low", "mid", "high"};
// How data sets write a missing value; evaluation skips such rows.
const char* const kMissing[] = {"", "NA", "NaN", "N/A", "null", "None"};

// 300 rows of three blobs with the class in column "kind". Every fifth row
// has no label: empty for training, and for evaluation each spelling of a
// missing value in turn. Row `bad_row` (if any) is labelled "medium".
void WriteBlobs(const std::string& path, bool for_training, int bad_row = -1) {
  const testing::Blobs blobs = testing::GaussianBlobs(300, 6, 3, 29, 0.5);
  std::ofstream out(path);
  out << "a,b,c,d,e,f,kind\n";
  for (int r = 0; r < 300; ++r) {
    for (int c = 0; c < 6; ++c) out << blobs.rows(r, c) << ",";
    if (r == bad_row) {
      out << "medium";
    } else if (r % 5 == 0) {
      out << (for_training ? "" : kMissing[(r / 5) % 6]);
    } else {
      out << kKinds[r % 3];
    }
    out << "\n";
  }
}

TEST_F(EvalTest, HeadFiguresMatchTheClassesPredictPrints) {
  const std::string train_csv = dir_ + "/data/blobs_train.csv", csv = dir_ + "/data/blobs.csv";
  WriteBlobs(train_csv, /*for_training=*/true);
  WriteBlobs(csv, /*for_training=*/false);
  std::ofstream(dir_ + "/classes.json")
      << R"({"encoder_widths": [4, 3], "finetune_epochs": 30, "optimizer": {"learning_rate": )"
      << R"(0.01}, "supervised": {"epochs": 30}, "anomaly": {"ensemble_size": 1}})";
  const ShellResult train =
      server_->Strata("train --model blobs --data " + train_csv + " --label_column kind --config " +
                      dir_ + "/classes.json --wait --quiet");
  ASSERT_EQ(train.exit_code, 0) << train.output;

  const ShellResult eval =
      server_->Strata("eval --model blobs --data " + csv + " --label_column kind --task head");
  ASSERT_EQ(eval.exit_code, 0) << eval.output;
  EXPECT_THAT(eval.output, HasSubstr("classifier head, 3 classes: 240 labelled rows (60 rows "
                                     "without a label in kind skipped)"));
  // The matrix under the class names (the head's order: sorted), then each
  // class's precision, recall and rows (80 labelled rows each).
  EXPECT_THAT(eval.output, HasSubstr("true \\ predicted  high  low  mid\n"));
  EXPECT_THAT(eval.output, HasSubstr("class  precision  recall  rows\n"));
  for (const char* kind : kKinds) {
    EXPECT_THAT(eval.output, ::testing::ContainsRegex(absl::StrCat(
                                 "\n", kind, " +(-|[01]\\.[0-9]{4}) +[01]\\.[0-9]{4} +80\n")))
        << kind;
  }
  EXPECT_EQ(ResultValue(eval.output, "labelled_rows"), 240);
  EXPECT_EQ(ResultValue(eval.output, "unlabelled_rows"), 60);
  EXPECT_EQ(ResultValue(eval.output, "classes"), 3);

  // The accuracy is that of the classes `strata predict` answers for the
  // labelled rows.
  const ShellResult predict = server_->Strata("predict --model blobs --drop_columns kind < " + csv);
  ASSERT_EQ(predict.exit_code, 0) << predict.output;
  std::vector<std::string> predicted;
  for (absl::string_view line : absl::StrSplit(predict.output, '\n')) {
    for (const char* kind : kKinds) {
      if (absl::StartsWith(line, absl::StrCat(kind, ","))) predicted.emplace_back(kind);
    }
  }
  ASSERT_EQ(predicted.size(), 300u) << predict.output.substr(0, 300);
  int right = 0, labelled = 0;
  for (int r = 0; r < 300; ++r) {
    if (r % 5 == 0) continue;
    ++labelled;
    right += predicted[static_cast<size_t>(r)] == kKinds[r % 3];
  }
  ASSERT_EQ(labelled, 240);
  EXPECT_NEAR(ResultValue(eval.output, "head_accuracy"), static_cast<double>(right) / labelled,
              1e-4);
  EXPECT_GT(ResultValue(eval.output, "head_accuracy"), 0.9);  // well-separated blobs

  // A label that is none of the classes: its line and the classes named.
  WriteBlobs(dir_ + "/data/bad.csv", /*for_training=*/false, /*bad_row=*/2);
  const ShellResult bad = server_->Strata("eval --model blobs --data " + dir_ +
                                          "/data/bad.csv --label_column kind --task head");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.output, HasSubstr("column kind: line 4: the label 'medium' is not one of the "
                                    "model's classes (high, low, mid)"));
  // Class names are for --task head; the other tasks say so.
  const ShellResult names =
      server_->Strata("eval --model blobs --data " + csv + " --label_column kind --task classes");
  EXPECT_EQ(names.exit_code, 1);
  EXPECT_THAT(names.output, HasSubstr("line 2, column kind: no label"));
  EXPECT_THAT(names.output, HasSubstr("--task head skips rows without one"));

  // A model without a head: refused, naming the flag.
  ASSERT_EQ(server_
                ->Strata("train --model plain --data " + train_csv +
                         " --drop_columns kind --config " + dir_ + "/classes.json --wait --quiet")
                .exit_code,
            0);
  const ShellResult headless =
      server_->Strata("eval --model plain --data " + csv + " --label_column kind --task head");
  EXPECT_EQ(headless.exit_code, 1);
  EXPECT_THAT(headless.output, HasSubstr("--task head measures a classifier head, and plain "
                                         "version 1 has none"));
}

}  // namespace
}  // namespace strata
