#include "client/cli/train_flags.h"

#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "client/cli/cli_flags.h"
#include "client/cli/commands.h"
#include "client/mpi_collective.h"
#include "core/base/file_util.h"
#include "core/model/model_io.h"
#include "core/model/model_store.h"
#include "core/train/train_config.h"

namespace strata::cli {
namespace {

// The --help text above the flags.
std::string Description(bool sweep) {
  if (sweep) {
    return "Runs a hyperparameter sweep on the server: trials of the config with the fields\n"
           "that SWEEP.json varies, each trained on the same data; the best is published\n"
           "as the next version of NAME, and the results table is printed.\n"
           "  strata sweep --model NAME --data FILE.csv --sweep SWEEP.json [--config BASE.json]\n"
           "  strata sweep --job ID     (follow a sweep already submitted)\n"
           "SWEEP.json is a SweepSpec (proto/strata/v1/train_config.proto), e.g.\n"
           "  {\"parameters\": [{\"field\": \"encoder_widths\", \"values\": [\"[32,8]\", "
           "\"[64,16]\"]}]}";
  }
  return absl::StrCat(
      "Trains a stacked autoencoder on a numeric CSV file.\n"
      "  on a server:  strata train --model NAME --data FILE.csv [--wait]\n"
      "                (uploads the CSV; the server publishes the next version of NAME)\n"
      "  locally:      strata train --local --data FILE.csv --out DIR\n"
      "                (writes DIR/",
      kModelFileName,
      "), or --store ROOT --model NAME (publishes\n"
      "                the next version of NAME into the model store ROOT)\n"
      "  data-parallel: mpirun -np N strata train --local --data 'SHARDS*.csv' ...\n"
      "                (each rank trains on its shards, or every N-th row of one\n"
      "                file; rank 0 writes the model)\n"
      "  larger than memory: strata train --local --mapped --data DIR ...\n"
      "                (converts the shards once into a row file next to them and\n"
      "                trains from it memory-mapped; each shard must fit in memory)\n"
      "--data takes a file, a comma-separated list, a directory or a glob.\n"
      "The config's fields are documented in proto/strata/v1/train_config.proto.");
}

// Flags of the other mode would be silently ignored: what to say of the one
// given, or null.
const char* MisplacedFlag(const TrainFlags& f) {
  const char* misplaced = nullptr;
  if (f.local && !f.labels.empty()) {
    misplaced =
        "--labels moves labels on a server: after --local --store, point them with "
        "'strata label'";
  } else if (f.local && !f.server_csv.empty()) {
    misplaced = "--server_csv names a file on a server: with --local, give --data";
  } else if (!f.local && !f.sweep && (!f.out_dir.empty() || !f.store_root.empty())) {
    misplaced = "--out and --store go with --local";
  } else if (f.local && f.wait) {
    misplaced = "--wait follows a server's job: --local trains in this process";
  } else if (f.local && !f.out_dir.empty() && !f.model_name.empty()) {
    misplaced = "--model names the model to publish into --store: with --out, leave it out";
  } else if (!f.sweep && f.calibration_values_given && !f.mapped &&
             !(f.local && MpiCollective::LaunchedRanks() > 1)) {
    misplaced =
        "--calibration_values bounds the calibration sample of --local --mapped or "
        "of data-parallel training under mpirun";
  }
  return misplaced;
}

int Usage(const TrainFlags& f, absl::string_view message) {
  std::cerr << "strata " << f.command << ": " << message << "\n";
  return kExitUsage;
}

}  // namespace

int ParseTrainFlags(const std::vector<std::string>& args, bool sweep, TrainFlags* f) {
  f->sweep = sweep;
  f->command = sweep ? "sweep" : "train";
  f->wait = sweep;
  FlagSet flags(f->command, Description(sweep));
  if (sweep) {
    flags.AddString("sweep", &f->sweep_path, "FILE.json", "the sweep (SweepSpec as JSON)");
    flags.AddString("job", &f->job_id, "ID", "follow this sweep job and print its table");
  } else {
    flags.AddBool("local", &f->local, "train in this process with the core library");
    flags.AddString("out", &f->out_dir, "DIR",
                    "--local: directory for the model (created if missing)");
    flags.AddString("store", &f->store_root, "ROOT",
                    "--local: publish into this model store as the next version of --model");
    flags.AddBool("mapped", &f->mapped,
                  "--local: train from a binary row file memory-mapped, for data larger than "
                  "memory (converted from --data once, reused while the shards are unchanged)");
    flags.AddString("row_cache", &f->row_cache, "DIR",
                    "--mapped: directory for the row file (created if missing); default: next to "
                    "the first shard");
    flags.AddInt("calibration_values", &f->calibration_values,
                 "--mapped or under mpirun: thresholds, percentiles and drift bin edges from "
                 "every k-th row when the rows hold more values than this (default 2^24, 64 MB)");
    flags.AddBool("wait", &f->wait, "server: follow the job with a progress bar until it ends");
  }
  flags.AddString("data", &f->data_path, "FILE.csv", "training data, one record per row");
  flags.AddString("config", &f->config_path, "FILE.json",
                  "training config (TrainConfig as JSON); default: all defaults");
  flags.AddString("model", &f->model_name, "NAME", "server: the model to publish a new version of");
  flags.AddString("labels", &f->labels, "A,B", "server: labels to point at the new version");
  flags.AddString("server_csv", &f->server_csv, "PATH",
                  "server: train on this CSV file, directory of shards or glob under the "
                  "server's --data_root (no upload; may be larger than the server's memory)");
  flags.AddString("drop_columns", &f->drop_columns, "A,B",
                  "CSV columns to leave out, e.g. a label");
  flags.AddString("label_column", &f->label_column, "NAME",
                  "a column of class labels (empty or NA cell: unlabelled row): also train a "
                  "classifier head on the code (config field supervised), for strata predict");
  flags.AddString("header", &f->header, "auto|yes|no",
                  "whether the CSV's first line names the columns");
  flags.AddBool("quiet", &f->quiet, "no live progress line");
  const int code = flags.ParseOrExit(args);
  f->calibration_values_given = flags.Given("calibration_values");
  return code;
}

int CheckTrainFlags(const TrainFlags& f) {
  if (f.sweep && f.sweep_path.empty()) {
    std::cerr << "strata sweep: give --sweep FILE.json, or --job ID (see --help)\n";
    return kExitUsage;
  }
  if (f.calibration_values < 1) return Usage(f, "--calibration_values must be at least 1");
  if (f.mapped && !f.local) return Usage(f, "--mapped goes with --local (see --help)");
  if (!f.mapped && !f.row_cache.empty()) {
    return Usage(f, "--row_cache goes with --mapped (see --help)");
  }
  if (f.mapped && !f.label_column.empty()) {
    return Usage(f, "--mapped keeps no class labels: train with --label_column from memory");
  }
  if (f.local ? (f.data_path.empty() || f.out_dir.empty() == f.store_root.empty() ||
                 (!f.store_root.empty() && f.model_name.empty()))
              : (f.model_name.empty() || f.data_path.empty() == f.server_csv.empty())) {
    return Usage(f,
                 absl::StrCat(f.local ? "--local needs --data, and --out or --store with --model"
                                      : "give --model and one of --data (upload) or --server_csv",
                              " (see --help)"));
  }
  if (const char* misplaced = MisplacedFlag(f); misplaced != nullptr) {
    return Usage(f, absl::StrCat(misplaced, " (see --help)"));
  }
  // Checked now, not after hours of training.
  if (f.local && !f.store_root.empty()) {
    if (absl::Status s = ModelStore::ValidateModelName(f.model_name); !s.ok()) {
      return Usage(f, absl::StrCat("--model: ", s.message()));
    }
  }
  return -1;
}

absl::StatusOr<CsvOptions> TrainCsvOptions(const TrainFlags& flags) {
  CsvOptions csv;
  absl::StatusOr<CsvOptions::Header> header_mode = ParseCsvHeaderMode(flags.header);
  if (!header_mode.ok()) return header_mode.status();
  csv.header = *header_mode;
  if (!flags.drop_columns.empty()) csv.drop_columns = absl::StrSplit(flags.drop_columns, ',');
  csv.label_column = flags.label_column;
  return csv;
}

absl::StatusOr<v1::TrainConfig> ReadTrainConfig(const std::string& config_path) {
  if (config_path.empty()) return v1::TrainConfig();
  absl::StatusOr<std::string> json = ReadFileToString(config_path);
  if (!json.ok()) return json.status();
  absl::StatusOr<v1::TrainConfig> parsed = ParseTrainConfigJson(*json);
  if (!parsed.ok()) {
    return absl::Status(parsed.status().code(),
                        absl::StrCat(config_path, ": ", parsed.status().message()));
  }
  return parsed;
}

}  // namespace strata::cli
