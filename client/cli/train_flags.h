// The flags of `strata train` and `strata sweep` (one set: the same data and
// config flags, and a sweep's spec), parsed and checked against each other
// before any work starts.
//
//   TrainFlags flags;
//   if (int code = ParseTrainFlags(args, /*sweep=*/false, &flags); code >= 0) return code;
//   if (int code = CheckTrainFlags(flags); code >= 0) return code;
#ifndef STRATA_CLIENT_CLI_TRAIN_FLAGS_H_
#define STRATA_CLIENT_CLI_TRAIN_FLAGS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/data/csv_reader.h"
#include "strata/v1/train_config.pb.h"

namespace strata::cli {

// What the command line said. Not thread-safe.
struct TrainFlags {
  // "train" or "sweep": the command whose errors these are.
  const char* command = "train";
  // strata sweep (--sweep, --job); else strata train (--local, --out, ...).
  bool sweep = false;

  bool local = false;
  bool quiet = false;
  // Follow the server's job to its end; always, for a sweep.
  bool wait = false;
  bool mapped = false;
  int calibration_values = 1 << 24;
  // Whether --calibration_values was given (even at its default).
  bool calibration_values_given = false;
  std::string data_path;
  std::string config_path;
  std::string out_dir;
  std::string drop_columns;
  std::string header = "auto";
  std::string model_name;
  std::string labels;
  std::string server_csv;
  std::string label_column;
  std::string sweep_path;
  // strata sweep --job: the sweep to follow instead of submitting one.
  std::string job_id;
  std::string store_root;
  std::string row_cache;
};

// Parses `args` (the words after the subcommand) into `flags`. Returns -1 to
// go on, else the exit code to end with (after --help, or a bad flag).
int ParseTrainFlags(const std::vector<std::string>& args, bool sweep, TrainFlags* flags);

// The flags against each other: a missing one, or one of the other mode
// (which would be silently ignored), prints "strata COMMAND: what to do" and
// returns kExitUsage; -1 when they are fine. REQUIRES: not a `sweep --job`.
int CheckTrainFlags(const TrainFlags& flags);

// The CSV options --header, --drop_columns and --label_column say;
// InvalidArgument for a bad --header.
absl::StatusOr<CsvOptions> TrainCsvOptions(const TrainFlags& flags);

// --config's TrainConfig (all defaults without it); errors name the file.
absl::StatusOr<v1::TrainConfig> ReadTrainConfig(const std::string& config_path);

}  // namespace strata::cli

#endif  // STRATA_CLIENT_CLI_TRAIN_FLAGS_H_
