// strata train: trains a model on a CSV file and writes its artifact.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/cli_flags.h"
#include "client/commands.h"
#include "client/training_report.h"
#include "core/csv_reader.h"
#include "core/file_util.h"
#include "core/model_io.h"
#include "core/train_config.h"
#include "core/trainer.h"

namespace strata::cli {
namespace {

std::atomic<bool> g_interrupted{false};

void OnSigint(int) { g_interrupted.store(true); }

// mkdir -p.
absl::Status MakeDirs(const std::string& path) {
  std::string partial;
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    absl::StrAppend(&partial, part, "/");
    if (part.empty() || part == ".") continue;
    if (mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST) {
      return absl::InternalError(
          absl::StrCat("cannot create directory ", partial, ": ", std::strerror(errno)));
    }
  }
  struct stat st;
  if (stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is not a directory"));
  }
  return absl::OkStatus();
}

int Fail(const absl::Status& status) {
  std::cerr << "strata train: " << status.message() << "\n";
  return status.code() == absl::StatusCode::kCancelled ? kExitInterrupted : kExitFailure;
}

}  // namespace

int RunTrain(const std::vector<std::string>& args) {
  bool local = false, quiet = false;
  std::string data_path, config_path, out_dir, drop_columns, header = "auto";
  FlagSet flags("train",
                "Trains a stacked autoencoder on a numeric CSV file and writes the model\n"
                "(weights, scaler, config, history) to DIR/" +
                    std::string(kModelFileName) +
                    ".\nThe config's fields are documented in proto/strata/v1/train_config.proto.");
  flags.AddBool("local", &local, "train in this process with the core library");
  flags.AddString("data", &data_path, "FILE.csv", "training data, one record per row", true);
  flags.AddString("config", &config_path, "FILE.json",
                  "training config (TrainConfig as JSON); default: all defaults");
  flags.AddString("out", &out_dir, "DIR", "directory for the model (created if missing)", true);
  flags.AddString("drop_columns", &drop_columns, "A,B", "CSV columns to leave out, e.g. a label");
  flags.AddString("header", &header, "auto|yes|no",
                  "whether the CSV's first line names the columns");
  flags.AddBool("quiet", &quiet, "no live progress line");
  if (absl::Status s = flags.Parse(args); !s.ok()) {
    std::cerr << "strata train: " << s.message() << "\n";
    return kExitUsage;
  }
  if (flags.help_requested()) {
    std::cout << flags.Usage();
    return kExitOk;
  }
  if (!local) {
    std::cerr << "strata train: only --local training is available in this build (the server "
                 "arrives with strata-server); pass --local\n";
    return kExitUsage;
  }
  CsvOptions csv;
  if (header == "yes") {
    csv.header = CsvOptions::Header::kPresent;
  } else if (header == "no") {
    csv.header = CsvOptions::Header::kAbsent;
  } else if (header != "auto") {
    std::cerr << "strata train: --header must be auto, yes or no\n";
    return kExitUsage;
  }
  if (!drop_columns.empty()) csv.drop_columns = absl::StrSplit(drop_columns, ',');

  v1::TrainConfig config;
  if (!config_path.empty()) {
    absl::StatusOr<std::string> json = ReadFileToString(config_path);
    if (!json.ok()) return Fail(json.status());
    absl::StatusOr<v1::TrainConfig> parsed = ParseTrainConfigJson(*json);
    if (!parsed.ok())
      return Fail(absl::Status(parsed.status().code(),
                               absl::StrCat(config_path, ": ", parsed.status().message())));
    config = *std::move(parsed);
  }
  absl::StatusOr<CsvTable> table = ReadCsvFile(data_path, csv);
  if (!table.ok()) return Fail(table.status());

  const bool live = !quiet && isatty(STDERR_FILENO);
  Trainer::Options options;
  options.config = config;
  options.input_dim = static_cast<int>(table->values.cols());
  options.feature_names = table->column_names;
  options.cancel = &g_interrupted;
  // On a terminal, one live line; in a log, a line every 5 seconds at most.
  absl::Time last_line = absl::Now();
  options.on_epoch = [live, quiet, &last_line](const TrainProgress& p) {
    if (live) {
      std::cerr << "\r\033[K" << FormatProgress(p) << std::flush;
    } else if (!quiet && absl::Now() - last_line >= absl::Seconds(5)) {
      std::cerr << FormatProgress(p) << "\n";
      last_line = absl::Now();
    }
  };
  absl::StatusOr<std::unique_ptr<Trainer>> trainer = Trainer::Create(options);
  if (!trainer.ok()) return Fail(trainer.status());
  const v1::TrainConfig& resolved = (*trainer)->config();
  std::cout << absl::StrFormat("training on %d rows x %d features from %s\n", table->values.rows(),
                               table->values.cols(), data_path)
            << "architecture: "
            << FormatArchitecture(ArchitectureFromConfig(resolved, options.input_dim)) << "\n"
            << absl::StrFormat(
                   "loss %s, scaler %s, optimizer %s lr %g, batch %d, %d pretrain epochs/layer, %d "
                   "fine-tune epochs, seed %d\n",
                   v1::Loss_Name(resolved.loss()), v1::ScalerKind_Name(resolved.scaler()),
                   v1::OptimizerConfig::Kind_Name(resolved.optimizer().kind()),
                   resolved.optimizer().learning_rate(), resolved.batch_size(),
                   resolved.pretrain_epochs(), resolved.finetune_epochs(), resolved.seed())
            << std::flush;

  struct sigaction sa = {};
  sa.sa_handler = OnSigint;
  sigaction(SIGINT, &sa, nullptr);
  absl::StatusOr<std::unique_ptr<Model>> model = (*trainer)->Train(table->values);
  if (live) std::cerr << "\r\033[K" << std::flush;
  if (!model.ok()) return Fail(model.status());

  const std::string path = absl::StrCat(out_dir, "/", kModelFileName);
  if (absl::Status s = MakeDirs(out_dir); !s.ok()) return Fail(s);
  if (absl::Status s = WriteModelFile(**model, path); !s.ok()) return Fail(s);

  const v1::TrainingSummary& summary = (*model)->info().summary;
  std::cout << "\ntraining curve:\n" << FormatCurve((*model)->info().history) << "\n";
  std::cout << absl::StrFormat("%d epochs in %.2fs; final loss: train %.6g", summary.epochs(),
                               summary.seconds(), summary.final_train_loss());
  if (summary.has_final_validation_loss()) {
    std::cout << absl::StrFormat(", validation %.6g (%d held-out rows)",
                                 summary.final_validation_loss(), summary.validation_rows());
  }
  std::cout << "\n" << FormatReconstructionError(**model, table->values);
  std::cout << "model written to " << path << "\n";
  return kExitOk;
}

}  // namespace strata::cli
