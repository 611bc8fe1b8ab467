// Runs the real `strata` binary as a user would and checks exit codes,
// output and the files it leaves.
#include <unistd.h>

#include <fstream>
#include <string>

#include "core/model_io.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/shell.h"

namespace strata {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using Result = testing::ShellResult;

Result RunStrata(const std::string& args) {
  return testing::Shell(std::string(STRATA_CLI_PATH) + " " + args);
}

std::string TempDir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/strata_cli_test_" + name;
  std::system(("rm -rf '" + dir + "'").c_str());
  return dir;
}

std::string WriteFile(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

TEST(StrataCliTest, TrainLocalWritesALoadableModelAndPrintsTheCurve) {
  const std::string out = TempDir("thyroid") + "/thyroid/1";
  const std::string config = WriteFile("cli_config.json", R"({"encoder_widths": [8, 3],
      "pretrain_epochs": 2, "finetune_epochs": 5, "scaler": "minmax", "seed": 3})");
  const Result r =
      RunStrata("train --local --data data/thyroid.csv --drop_columns label --config " + config +
                " --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("training on 3772 rows x 6 features"));
  EXPECT_THAT(r.output, HasSubstr("pretrain L2"));
  EXPECT_THAT(r.output, HasSubstr("finetune"));
  EXPECT_THAT(r.output, HasSubstr("reconstruction MSE per row"));
  auto model = ReadModelFile(out + "/" + kModelFileName);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->input_dim(), 6);
  EXPECT_EQ((*model)->info().history.size(), 2u * 2 + 5);
  EXPECT_EQ((*model)->info().config.seed(), 3u);
  EXPECT_EQ((*model)->scaler().kind(), v1::MINMAX);

  const Result inspect = RunStrata("inspect --model " + out + " --config");
  ASSERT_EQ(inspect.exit_code, 0) << inspect.output;
  EXPECT_THAT(inspect.output,
              HasSubstr("6 -> 8 (relu) -> 3 (linear, code) -> 8 (relu) -> 6 (linear)"));
  EXPECT_THAT(inspect.output, HasSubstr("\"finetune_epochs\": 5"));
}

TEST(StrataCliTest, BadCsvFailsWithLineAndColumnAndWritesNothing) {
  const std::string out = TempDir("bad_csv");
  const std::string csv = WriteFile("cli_bad.csv", "a,b,c\n1,2,3\n4,x,6\n");
  const Result r = RunStrata("train --local --data " + csv + " --out " + out);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("line 3, column 2 (b): 'x' is not a number"));
  EXPECT_NE(access(out.c_str(), F_OK), 0);
}

TEST(StrataCliTest, BadConfigNamesTheField) {
  const std::string config = WriteFile("cli_bad_config.json", R"({"dropout": 1.5})");
  const Result r =
      RunStrata("train --local --data data/thyroid.csv --drop_columns label --config " + config +
                " --out " + TempDir("bad_config"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("config field dropout"));
  const std::string unknown = WriteFile("cli_unknown_config.json", R"({"epochs": 5})");
  const Result u = RunStrata("train --local --data data/thyroid.csv --config " + unknown +
                             " --out " + TempDir("unknown_config"));
  EXPECT_EQ(u.exit_code, 1);
  EXPECT_THAT(u.output, HasSubstr("epochs"));
}

TEST(StrataCliTest, UsageErrorsExitWithTwo) {
  EXPECT_EQ(RunStrata("").exit_code, 2);
  EXPECT_EQ(RunStrata("frobnicate").exit_code, 2);
  const Result missing = RunStrata("train --local --out /tmp/x");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.output, HasSubstr("--local needs --data and --out"));
  const Result unknown = RunStrata("train --local --data a.csv --out d --epochs 3");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.output, HasSubstr("unknown flag --epochs"));
  // Without --local, training goes to a server and needs --model.
  const Result no_model = RunStrata("train --data data/thyroid.csv");
  EXPECT_EQ(no_model.exit_code, 2);
  EXPECT_THAT(no_model.output, HasSubstr("give --model"));
  EXPECT_EQ(RunStrata("encode --model m --version 2 --label x").exit_code, 2);
  EXPECT_EQ(RunStrata("score --model m --metric rmse").exit_code, 2);
  EXPECT_EQ(RunStrata("--server").exit_code, 2);
}

TEST(StrataCliTest, EverySubcommandHasHelp) {
  for (const char* sub :
       {"train", "inspect", "encode", "reconstruct", "score", "models", "jobs", "label"}) {
    const Result r = RunStrata(std::string(sub) + " --help");
    EXPECT_EQ(r.exit_code, 0) << sub;
    EXPECT_THAT(r.output, HasSubstr(std::string("usage: strata ") + sub)) << sub;
  }
  const Result top = RunStrata("help");
  EXPECT_EQ(top.exit_code, 0);
  EXPECT_THAT(top.output, HasSubstr("train"));
}

TEST(StrataCliTest, InspectRejectsForeignFiles) {
  const Result r = RunStrata("inspect --model data/thyroid.csv");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("not a strata model file"));
  EXPECT_THAT(r.output, Not(HasSubstr("Aborted")));
}

}  // namespace
}  // namespace strata
