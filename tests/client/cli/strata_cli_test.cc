// Runs the real `strata` binary as a user would and checks exit codes,
// output and the files it leaves.
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/model/model_io.h"
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
  EXPECT_THAT(missing.output, HasSubstr("--local needs --data, and --out or --store with --model"));
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
  // A flag of the other mode would be ignored: refused, saying why.
  for (const auto& [args, message] : std::vector<std::pair<std::string, std::string>>{
           {"train --local --data data/thyroid.csv --store s --model m --labels prod",
            "--labels moves labels on a server: after --local --store, point them with "
            "'strata label'"},
           {"train --local --data data/thyroid.csv --out d --server_csv x.csv",
            "--server_csv names a file on a server: with --local, give --data"},
           {"train --model m --data data/thyroid.csv --out d", "--out and --store go with --local"},
           {"train --local --data data/thyroid.csv --out d --wait",
            "--wait follows a server's job: --local trains in this process"},
           {"train --local --data data/thyroid.csv --out d --model m",
            "--model names the model to publish into --store: with --out, leave it out"},
           {"train --local --data data/thyroid.csv --out d --calibration_values 1000",
            "--calibration_values bounds the calibration sample of --local --mapped"},
           {"train --model m --data data/thyroid.csv --calibration_values 1000",
            "--calibration_values bounds the calibration sample of --local --mapped"},
           // The model's name before the training, not after it.
           {"train --local --data data/thyroid.csv --store s --model 'bad name'",
            "strata train: --model: model name"}}) {
    const Result r = RunStrata(args);
    EXPECT_EQ(r.exit_code, 2) << args << ": " << r.output;
    EXPECT_THAT(r.output, HasSubstr(message)) << args;
  }
}

// Every subcommand of the CLI, for the checks that hold for each.
const char* const kSubcommands[] = {"train", "sweep",   "inspect", "encode", "reconstruct",
                                    "score", "predict", "models",  "jobs",   "label",
                                    "drift", "report",  "eval",    "health"};

TEST(StrataCliTest, EverySubcommandHasHelp) {
  for (const char* sub : kSubcommands) {
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

// Every subcommand, with the flags it needs to get as far as calling a server.
const char* const kServerSubcommands[] = {
    "models",
    "jobs",
    "jobs --id job-1",
    "jobs --cancel job-1",
    "label --model m --label l --version 1",
    "drift --model m",
    "report --model m --out /dev/null",
    "eval --model m --data data/thyroid.csv --label_column label",
    "health --timeout 2",
    "encode --model m < data/thyroid.csv",
    "reconstruct --model m < data/thyroid.csv",
    "score --model m < data/thyroid.csv",
    "score --model m --stream < data/thyroid.csv",
    "predict --model m --drop_columns label < data/thyroid.csv",
    "train --model m --data data/thyroid.csv --drop_columns label",
    "train --model m --server_csv thyroid.csv",
    "sweep --model m --data data/thyroid.csv --drop_columns label --sweep "
    "tests/client/cli/testdata/sweep.json",
    "sweep --job job-1",
};

// Issue 14: the first thing a new user meets without a server.
TEST(StrataCliTest, RefusedConnectionSaysNoServerAnswers) {
  // Nothing listens on port 1 (privileged, unassigned).
  for (const char* sub : kServerSubcommands) {
    const Result r = RunStrata(std::string("--server=127.0.0.1:1 ") + sub);
    const std::string name = std::string(sub).substr(0, std::string(sub).find(' '));
    EXPECT_EQ(r.exit_code, 1) << sub;
    EXPECT_EQ(r.output, "strata " + name +
                            ": no strata-server answers at 127.0.0.1:1; start one, or set "
                            "--server / $STRATA_SERVER\n")
        << sub;
  }
  const Result env =
      testing::Shell(std::string("STRATA_SERVER=127.0.0.1:1 ") + STRATA_CLI_PATH + " models");
  EXPECT_THAT(env.output, HasSubstr("no strata-server answers at 127.0.0.1:1;"));
}

TEST(StrataCliTest, GlobalFlagAfterTheSubcommandSaysWhereItGoes) {
  for (const char* sub : kSubcommands) {
    for (const char* flag : {"server", "token_file", "tls_ca", "tls_cert", "tls_key"}) {
      for (const std::string& form : {std::string(" x"), std::string("=x")}) {
        const Result r = RunStrata(absl::StrCat(sub, " --", flag, form));
        EXPECT_EQ(r.exit_code, 2) << sub << " --" << flag;
        EXPECT_EQ(r.output, absl::StrCat("strata ", sub, ": --", flag,
                                         " is a global flag: give it before the subcommand, "
                                         "as in 'strata --",
                                         flag, "=... ", sub, " ...'\n"))
            << sub << " --" << flag;
      }
    }
  }
}

TEST(StrataCliTest, ConfigJsonErrorsAreOneLineWithLineAndColumn) {
  auto train = [](const std::string& name, const std::string& json) {
    return RunStrata("train --local --data data/thyroid.csv --drop_columns label --config " +
                     WriteFile(name, json) + " --out " + TempDir(name));
  };
  // A syntax error: a missing comma at the end of line 3.
  const Result syntax = train(
      "cli_syntax.json", "{\n  \"seed\": 3,\n  \"dropout\": 0.1\n  \"finetune_epochs\": 5\n}\n");
  EXPECT_EQ(syntax.exit_code, 1);
  EXPECT_EQ(std::count(syntax.output.begin(), syntax.output.end(), '\n'), 1) << syntax.output;
  EXPECT_THAT(syntax.output, HasSubstr("cli_syntax.json: invalid training config JSON: line 4, "
                                       "column 3: expected , or } after key:value pair"));
  // An unknown field and a bad value: where the field is.
  const Result unknown = train("cli_unknown.json", "{\n  \"seed\": 3,\n    \"epochs\": 5\n}\n");
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(unknown.output, HasSubstr("line 3, column 5: epochs: cannot find field"));
  const Result value = train(
      "cli_value.json", "{\"seed\": 3,\n \"optimizer\": {\"kind\": \"adam\", \"beta1\": \"x\"}}");
  EXPECT_EQ(value.exit_code, 1);
  EXPECT_EQ(std::count(value.output.begin(), value.output.end(), '\n'), 1) << value.output;
  EXPECT_THAT(value.output, HasSubstr("line 2, column 32: optimizer.beta1: invalid value \"x\""));
  // The end of the text.
  const Result cut = train("cli_cut.json", "{\n  \"seed\": 3,\n  \"dropout\": ");
  EXPECT_EQ(std::count(cut.output.begin(), cut.output.end(), '\n'), 1) << cut.output;
  EXPECT_THAT(cut.output, HasSubstr("line 3, column 14: "));
}

TEST(StrataCliTest, EveryHelpAlignsItsColumnsAndIndentsWrappedLines) {
  for (const char* sub : kSubcommands) {
    const Result r = RunStrata(std::string(sub) + " --help");
    ASSERT_EQ(r.exit_code, 0) << sub;
    const size_t flags_at = r.output.find("\nflags:\n");
    ASSERT_NE(flags_at, std::string::npos) << sub;
    // Each flag line: "  --name VALUE", spaces, its description at a column
    // shared by every flag of the command; wrapped lines start at it too.
    size_t column = 0;
    int flag_lines = 0, wrapped_lines = 0;
    for (absl::string_view line :
         absl::StrSplit(r.output.substr(flags_at + 8), '\n', absl::SkipEmpty())) {
      EXPECT_LE(line.size(), 80u) << sub << ": " << line;
      size_t at;
      if (absl::StartsWith(line, "  --")) {
        ++flag_lines;
        at = line.find("  ", 2);
        if (at == absl::string_view::npos) continue;  // a long name: the text goes below
        at = line.find_first_not_of(' ', at);
      } else {
        ++wrapped_lines;
        at = line.find_first_not_of(' ');
      }
      if (column == 0) column = at;
      EXPECT_EQ(at, column) << sub << ": " << line;
    }
    EXPECT_GE(flag_lines, 2) << sub;
    // score's --header has the longest description: it wraps.
    if (std::string(sub) == "score") {
      EXPECT_GT(wrapped_lines, 0);
    }
  }
}

// --row_cache naming a directory not made yet failed with "No such file or
// directory"; strata-server makes its --row_cache_dir, and so does the CLI.
TEST(StrataCliTest, MappedTrainingMakesTheRowCacheDirectory) {
  const std::string dir = TempDir("row_cache");
  const std::string cache = dir + "/cache/rows";
  const std::string config =
      WriteFile("cli_row_cache.json", R"({"encoder_widths": [3], "finetune_epochs": 1})");
  const Result r = RunStrata(absl::StrCat(
      "train --local --mapped --quiet --data data/thyroid.csv --drop_columns label --config ",
      config, " --row_cache ", cache, " --out ", dir, "/model"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("converted --data into " + cache + "/.strata-rows-"));
  // One that cannot be made says which flag, and why.
  const Result file = RunStrata(absl::StrCat(
      "train --local --mapped --quiet --data data/thyroid.csv --drop_columns label --config ",
      config, " --row_cache data/thyroid.csv/rows --out ", dir, "/model2"));
  EXPECT_EQ(file.exit_code, 1) << file.output;
  EXPECT_THAT(file.output, HasSubstr("strata train: --row_cache: cannot create directory "
                                     "data/thyroid.csv/rows"));
}

// A shard without a header line among shards with one said "cannot drop
// column 'label'" of the columns f0, f1, ...: now the shard is named, and
// what it lacks.
TEST(StrataCliTest, AShardWithoutAHeaderIsNamed) {
  const std::string named = WriteFile("cli_shard_named.csv", "x,y,label\n1,2,0\n3,4,1\n");
  const std::string bare = WriteFile("cli_shard_bare.csv", "5,6,0\n7,8,1\n");
  const Result drop = RunStrata(absl::StrCat("train --local --data ", named, ",", bare,
                                             " --drop_columns label --out ", TempDir("bare")));
  EXPECT_EQ(drop.exit_code, 1) << drop.output;
  EXPECT_THAT(drop.output, HasSubstr(bare + ": cannot drop column 'label': the file has no header "
                                            "line (its first line is a row of numbers)"));
  const Result kept = RunStrata(
      absl::StrCat("train --local --data ", named, ",", bare, " --out ", TempDir("bare2")));
  EXPECT_EQ(kept.exit_code, 1) << kept.output;
  EXPECT_THAT(kept.output, HasSubstr(bare +
                                     " has no header line (its first line is a row of "
                                     "numbers), while " +
                                     named + " names its columns (x, y, label)"));
}

TEST(StrataCliTest, InspectConfigJsonKeepsZeroValuedFields) {
  const std::string out = TempDir("zeros");
  const std::string config =
      WriteFile("cli_zeros.json", R"({"encoder_widths": [3], "finetune_epochs": 1})");
  const Result train = RunStrata(
      absl::StrCat("train --local --quiet --data data/thyroid.csv --drop_columns label --config ",
                   config, " --out ", out));
  ASSERT_EQ(train.exit_code, 0) << train.output;
  const Result r = RunStrata("inspect --config --model " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("\"dropout\": 0,"));
  EXPECT_THAT(r.output, HasSubstr("\"pretrain_epochs\": 0,"));
  EXPECT_THAT(r.output, HasSubstr("\"tied_weights\": false,"));
}

// inspect shows what a classifier model holds about its head (classes with
// their labelled rows, accuracy, the validation confusion matrix) and, for a
// sweep's version, the trials.
TEST(StrataCliTest, InspectShowsTheClassifierHeadAndASweepsTrials) {
  const std::string out = TempDir("classifier");
  const std::string config = WriteFile("cli_classifier.json", R"({"encoder_widths": [4, 2],
      "finetune_epochs": 2, "supervised": {"epochs": 3}, "anomaly": {"ensemble_size": 1},
      "seed": 3})");
  const Result train = RunStrata(
      absl::StrCat("train --local --quiet --data data/thyroid.csv --label_column label --config ",
                   config, " --out ", out));
  ASSERT_EQ(train.exit_code, 0) << train.output;
  const Result r = RunStrata("inspect --model " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // thyroid.csv: 3,679 rows of class 0 and 93 of class 1, all labelled.
  EXPECT_THAT(r.output, HasSubstr("classes:      0 (3679 labelled rows), 1 (93 labelled rows)\n"));
  EXPECT_THAT(r.output, ::testing::ContainsRegex(
                            "head: +accuracy [01]\\.[0-9]{4} on [0-9]+ labelled training rows, "
                            "[01]\\.[0-9]{4} on [0-9]+ labelled validation rows"));
  EXPECT_THAT(r.output, HasSubstr("validation rows by true class (down) and the head's class"));
  EXPECT_THAT(r.output, HasSubstr("true \\ predicted"));
  EXPECT_THAT(r.output, HasSubstr("class  precision  recall"));
  EXPECT_THAT(r.output, Not(HasSubstr("sweep (")));

  // The same model as a sweep's best trial would publish it.
  absl::StatusOr<std::unique_ptr<Model>> model = ReadModelFile(out + "/" + kModelFileName);
  ASSERT_TRUE(model.ok()) << model.status();
  v1::ModelArtifact artifact = ModelToArtifact(**model);
  v1::SweepSummary* sweep = artifact.mutable_summary()->mutable_sweep();
  sweep->set_objective(v1::HEAD_ACCURACY);
  sweep->set_best_trial(2);
  for (int t = 1; t <= 2; ++t) {
    v1::SweepTrial* trial = sweep->add_trials();
    trial->set_trial(t);
    trial->set_state(v1::SweepTrial::SUCCEEDED);
    v1::SweepSetting* setting = trial->add_settings();
    setting->set_field("encoder_widths");
    setting->set_value(t == 1 ? "[4,1]" : "[4,2]");
    trial->set_objective(0.9 + 0.01 * t);
    trial->set_head_accuracy(0.9 + 0.01 * t);
    trial->set_epochs(5);
    trial->set_seconds(1.5);
  }
  absl::StatusOr<std::unique_ptr<Model>> swept = ModelFromArtifact(artifact);
  ASSERT_TRUE(swept.ok()) << swept.status();
  ASSERT_TRUE(WriteModelFile(**swept, out + "/" + kModelFileName).ok());
  const Result again = RunStrata("inspect --model " + out);
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_THAT(again.output, HasSubstr("sweep (this version is the best trial's model):\n"
                                      "objective HEAD_ACCURACY (highest wins)"));
  EXPECT_THAT(again.output, ::testing::ContainsRegex("\n2 \\* +SUCCEEDED +0\\.92 "));
  EXPECT_THAT(again.output, HasSubstr("encoder_widths=[4,1]"));
}

}  // namespace
}  // namespace strata
