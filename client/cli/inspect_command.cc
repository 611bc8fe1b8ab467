// strata inspect: prints what a model file holds.
#include <sys/stat.h>

#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "client/cli/cli_flags.h"
#include "client/cli/commands.h"
#include "client/training_report.h"
#include "core/model/model_io.h"
#include "core/scoring/evaluation.h"

namespace strata::cli {
namespace {

// Past this many classes the names are cut short and the matrices left out.
constexpr size_t kClassesShown = 20;

// The head's classes, its accuracy, labelled rows per class and, with
// labelled validation rows, their confusion matrix with each class's
// precision and recall.
void PrintClassifier(const std::vector<std::string>& names, const v1::ClassifierSummary& c) {
  std::vector<std::string> classes;
  for (size_t k = 0; k < names.size() && k < kClassesShown; ++k) {
    classes.push_back(
        k < static_cast<size_t>(c.class_counts_size())
            ? absl::StrCat(names[k], " (", c.class_counts(static_cast<int>(k)), " labelled rows)")
            : names[k]);
  }
  if (names.size() > kClassesShown)
    classes.push_back(absl::StrCat("... (", names.size(), " in all)"));
  std::cout << "classes:      " << absl::StrJoin(classes, ", ") << "\n"
            << absl::StrFormat("head:         accuracy %.4f on %d labelled training rows",
                               c.train_accuracy(), c.train_labelled_rows());
  if (c.has_validation_accuracy()) {
    std::cout << absl::StrFormat(", %.4f on %d labelled validation rows", c.validation_accuracy(),
                                 c.validation_labelled_rows());
  }
  std::cout << "\n";
  const size_t k = names.size();
  if (!c.has_validation_accuracy() || k > kClassesShown ||
      static_cast<size_t>(c.confusion_size()) != k * k) {
    return;
  }
  std::cout << "\nvalidation rows by true class (down) and the head's class (across):\n";
  PrintClassifierMetrics(
      names, MetricsFromConfusion(std::vector<int64_t>(c.confusion().begin(), c.confusion().end()),
                                  static_cast<int>(k)));
}

}  // namespace

int RunInspect(const std::vector<std::string>& args) {
  std::string model_path;
  bool show_config = false;
  FlagSet flags("inspect",
                "Prints a model's architecture, scaler, training summary and curve; its\n"
                "classifier head's classes and accuracy, and a sweep's trials, where it has them.");
  flags.AddString("model", &model_path, "PATH", "model directory or file", true);
  flags.AddBool("config", &show_config, "also print the full training config as JSON");
  if (int code = flags.ParseOrExit(args); code >= 0) return code;
  struct stat st;
  if (stat(model_path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    model_path = absl::StrCat(model_path, "/", kModelFileName);
  }
  absl::StatusOr<std::unique_ptr<Model>> model = ReadModelFile(model_path);
  if (!model.ok()) {
    std::cerr << "strata inspect: " << model.status().message() << "\n";
    return kExitFailure;
  }
  const Model& m = **model;
  const ModelInfo& info = m.info();
  std::cout << "model:        " << model_path << "\n"
            << "created:      "
            << absl::FormatTime(absl::RFC3339_sec, absl::FromUnixMicros(info.created_unix_micros),
                                absl::UTCTimeZone())
            << " by strata " << info.strata_version << "\n"
            << "architecture: " << FormatArchitecture(m.autoencoder().architecture()) << "\n"
            << "features:     " << absl::StrJoin(info.feature_names, ", ") << "\n"
            << "scaler:       " << v1::ScalerKind_Name(m.scaler().kind()) << "\n"
            << absl::StrFormat(
                   "training:     %d rows (+%d validation), %s, loss %s\n",
                   info.summary.train_rows(), info.summary.validation_rows(),
                   FormatEpochsAndSeconds(info.summary, info.config.anomaly().ensemble_size()),
                   v1::Loss_Name(info.config.loss()))
            << absl::StrFormat("final loss:   train %.6g", info.summary.final_train_loss());
  if (info.summary.has_final_validation_loss()) {
    std::cout << absl::StrFormat(", validation %.6g", info.summary.final_validation_loss());
  }
  std::cout << " (reconstruction, " << v1::Loss_Name(info.config.loss()) << ")\n";
  if (!info.class_names.empty()) PrintClassifier(info.class_names, info.summary.classifier());
  for (const std::string& w : info.summary.warnings()) std::cout << "warning:      " << w << "\n";
  std::cout << "\ncurve of the served network:\n" << FormatCurve(info.history);
  if (info.summary.sweep().trials_size() > 0) {
    std::cout << "\nsweep (this version is the best trial's model):\n"
              << FormatSweepTable(info.summary.sweep());
  }
  if (show_config) {
    std::cout << "\nconfig:\n";
    PrintJson(info.config);
  }
  return kExitOk;
}

}  // namespace strata::cli
