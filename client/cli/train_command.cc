// strata train and strata sweep: the flags, then one of the modes: training
// in this process (train_local.h; under mpirun, data-parallel), or a job on
// strata-server, submitted and followed (train_on_server.h), a sweep's too.
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "client/cli/commands.h"
#include "client/cli/train_flags.h"
#include "client/cli/train_local.h"
#include "client/cli/train_on_server.h"
#include "client/mpi_collective.h"
#include "core/base/file_util.h"
#include "core/train/sweep.h"

namespace strata::cli {
namespace {

// --sweep's SweepSpec; errors name the file.
absl::StatusOr<v1::SweepSpec> ReadSweepSpec(const std::string& sweep_path) {
  absl::StatusOr<std::string> json = ReadFileToString(sweep_path);
  if (!json.ok()) return json.status();
  absl::StatusOr<v1::SweepSpec> parsed = ParseSweepSpecJson(*json);
  if (!parsed.ok()) {
    return absl::Status(parsed.status().code(),
                        absl::StrCat(sweep_path, ": ", parsed.status().message()));
  }
  return parsed;
}

// The job for the server: the model, `config`, --labels and a sweep's spec.
int SubmitToServer(const GlobalFlags& global, const TrainFlags& flags, const CsvOptions& csv,
                   v1::TrainConfig config) {
  if (MpiCollective::LaunchedRanks() > 1) {
    // Each rank would submit the same job.
    std::cerr << "strata " << flags.command
              << ": under mpirun, train with --local (each rank trains its part)\n";
    return kExitUsage;
  }
  v1::TrainJobSpec spec;
  spec.set_model_name(flags.model_name);
  *spec.mutable_config() = std::move(config);
  if (!flags.labels.empty()) {
    for (absl::string_view l : absl::StrSplit(flags.labels, ',')) spec.add_labels(std::string(l));
  }
  if (flags.sweep) {
    absl::StatusOr<v1::SweepSpec> sweep = ReadSweepSpec(flags.sweep_path);
    if (!sweep.ok()) return Fail(flags.command, sweep.status());
    *spec.mutable_sweep() = *std::move(sweep);
  }
  return TrainOnServer(global, flags, std::move(spec), csv);
}

// strata train, or (with `sweep`) strata sweep.
int RunTrainOrSweep(const GlobalFlags& global, const std::vector<std::string>& args, bool sweep) {
  TrainFlags flags;
  if (int code = ParseTrainFlags(args, sweep, &flags); code >= 0) return code;
  if (sweep && !flags.job_id.empty()) return TrainOnServer(global, flags, {}, {});
  if (int code = CheckTrainFlags(flags); code >= 0) return code;
  absl::StatusOr<CsvOptions> csv = TrainCsvOptions(flags);
  if (!csv.ok()) {
    std::cerr << "strata " << flags.command << ": " << csv.status().message() << "\n";
    return kExitUsage;
  }
  absl::StatusOr<v1::TrainConfig> config = ReadTrainConfig(flags.config_path);
  if (!config.ok()) return Fail(flags.command, config.status());
  if (!flags.local) return SubmitToServer(global, flags, *csv, *std::move(config));
  return TrainLocally(flags, *csv, *std::move(config));
}

}  // namespace

int RunTrain(const GlobalFlags& global, const std::vector<std::string>& args) {
  return RunTrainOrSweep(global, args, /*sweep=*/false);
}

int RunSweep(const GlobalFlags& global, const std::vector<std::string>& args) {
  return RunTrainOrSweep(global, args, /*sweep=*/true);
}

}  // namespace strata::cli
