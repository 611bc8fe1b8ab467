// strata inspect: prints what a model file holds.
#include <sys/stat.h>

#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "client/cli_flags.h"
#include "client/commands.h"
#include "client/training_report.h"
#include "core/model_io.h"

namespace strata::cli {

int RunInspect(const std::vector<std::string>& args) {
  std::string model_path;
  bool show_config = false;
  FlagSet flags("inspect", "Prints a model's architecture, scaler, training summary and curve.");
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
  if (m.classifier().has_value()) {
    std::cout << FormatClassifierSummary(info.summary.classifier(),
                                         static_cast<int>(info.class_names.size()))
              << "\n";
  }
  std::cout << "\ncurve of the served network:\n" << FormatCurve(info.history);
  if (show_config) {
    std::cout << "\nconfig:\n";
    PrintJson(info.config);
  }
  return kExitOk;
}

}  // namespace strata::cli
