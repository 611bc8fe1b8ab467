#include "client/cli/train_local.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/cli/commands.h"
#include "client/cli/progress_line.h"
#include "client/cli/train_data.h"
#include "client/mpi_collective.h"
#include "client/training_report.h"
#include "core/base/file_util.h"
#include "core/model/model_io.h"
#include "core/model/model_store.h"
#include "core/train/train_config.h"
#include "core/train/trainer.h"

namespace strata::cli {
namespace {

std::atomic<bool> g_interrupted{false};

void OnSigint(int) { g_interrupted.store(true); }

// A rank that fails alone must not leave the others waiting in a
// collective (nor block in MPI_Finalize): it ends the whole MPI job, and
// mpirun exits non-zero. `mpi`: null when not under mpirun.
int FailEveryRank(const char* command, const absl::Status& status, MpiCollective* mpi) {
  const int code = Fail(command, status);
  if (mpi != nullptr) mpi->Abort(code);
  return code;
}

// Under mpirun: what this rank trains on, and its share of the machine's
// cores (when the config leaves the threads to the trainer).
void ShareMachine(const MpiCollective& mpi, const LocalTrainingData& data,
                  v1::TrainConfig* config) {
  std::cout << absl::StrFormat("rank %d of %d (pid %d): %d rows, %s\n", mpi.rank(), mpi.size(),
                               getpid(), data.rows(), data.rank_data)
            << std::flush;
  // The machine's cores, shared by its ranks.
  if (config->threads() == 0) {
    config->set_threads(
        std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / mpi.local_size()));
  }
}

Trainer::Options TrainerOptions(const TrainFlags& flags, const v1::TrainConfig& config,
                                const LocalTrainingData& data, MpiCollective* mpi) {
  Trainer::Options options;
  options.config = config;
  options.input_dim = static_cast<int>(data.cols());
  options.calibration_values = flags.calibration_values;
  options.feature_names = data.table.column_names;
  options.class_names = data.classes.names;
  options.cancel = &g_interrupted;
  if (mpi != nullptr) {
    options.collective = mpi;
    options.row_layout = data.layout;
  }
  return options;
}

// "training on 500 rows x 21 features from a.csv", the architecture, and the
// resolved config's loss, scaler, optimizer, batch, epochs and seed.
void PrintTrainingPlan(const TrainFlags& flags, const LocalTrainingData& data,
                       const v1::TrainConfig& resolved, int input_dim, bool data_parallel) {
  std::cout << absl::StrFormat("training on %d rows x %d features from %s%s\n", data.rows(),
                               data.cols(), flags.data_path, data_parallel ? " (rank 0's)" : "")
            << "architecture: " << FormatArchitecture(ArchitectureFromConfig(resolved, input_dim))
            << "\n"
            << absl::StrFormat(
                   "loss %s, scaler %s, optimizer %s lr %g, batch %d, %d pretrain epochs/layer, %d "
                   "fine-tune epochs, seed %d\n",
                   v1::Loss_Name(resolved.loss()), v1::ScalerKind_Name(resolved.scaler()),
                   v1::OptimizerConfig::Kind_Name(resolved.optimizer().kind()),
                   resolved.optimizer().learning_rate(), resolved.batch_size(),
                   resolved.pretrain_epochs(), resolved.finetune_epochs(), resolved.seed())
            << std::flush;
}

// Writes `model` to --out, or publishes it into --store; where its file is.
absl::StatusOr<std::string> SaveModel(const TrainFlags& flags, const Model& model) {
  if (!flags.store_root.empty()) {
    // As strata-server publishes: a complete version directory, renamed
    // into place, under a number never handed out before.
    absl::StatusOr<std::unique_ptr<ModelStore>> store = ModelStore::Create({flags.store_root});
    if (!store.ok()) return store.status();
    absl::StatusOr<int64_t> version = (*store)->Publish(flags.model_name, model);
    if (!version.ok()) return version.status();
    return (*store)->ModelFilePath(flags.model_name, *version);
  }
  const std::string path = absl::StrCat(flags.out_dir, "/", kModelFileName);
  if (absl::Status s = CreateDirectories(flags.out_dir); !s.ok()) return s;
  if (absl::Status s = WriteModelFile(model, path); !s.ok()) return s;
  return path;
}

// The training curve, the final losses, the reconstruction error over the
// rows (when this process holds them all: `all_rows`), the classifier's
// summary, where the model went and the training's warnings.
void PrintTrainingSummary(const Model& model, const Matrix* all_rows, const std::string& path) {
  const v1::TrainingSummary& summary = model.info().summary;
  std::cout << "\ntraining curve (the served network):\n"
            << FormatCurve(model.info().history) << "\n";
  std::cout << absl::StrFormat(
      "%s; final reconstruction loss (%s): train %.6g",
      FormatEpochsAndSeconds(summary, model.info().config.anomaly().ensemble_size()),
      v1::Loss_Name(model.info().config.loss()), summary.final_train_loss());
  if (summary.has_final_validation_loss()) {
    std::cout << absl::StrFormat(", validation %.6g (%d held-out rows)",
                                 summary.final_validation_loss(), summary.validation_rows());
  }
  std::cout << "\n";
  if (all_rows != nullptr) std::cout << FormatReconstructionError(model, *all_rows);
  if (model.classifier().has_value()) {
    std::cout << FormatClassifierSummary(summary.classifier(),
                                         static_cast<int>(model.info().class_names.size()))
              << "\n";
  }
  std::cout << "model written to " << path << "\n";
  for (const std::string& w : summary.warnings()) std::cerr << "warning: " << w << "\n";
}

}  // namespace

int TrainLocally(const TrainFlags& flags, const CsvOptions& csv, v1::TrainConfig config) {
  // Under mpirun: one rank of a data-parallel training.
  absl::StatusOr<std::unique_ptr<MpiCollective>> opened = MpiCollective::FromEnvironment();
  if (!opened.ok()) return Fail(flags.command, opened.status());
  MpiCollective* const mpi = opened->get();
  const auto fail = [&flags, mpi](const absl::Status& status) {
    return FailEveryRank(flags.command, status, mpi);
  };
  const bool lead = mpi == nullptr || mpi->rank() == 0;
  absl::StatusOr<LocalTrainingData> data = ReadLocalTrainingData(flags, csv, config, mpi);
  if (!data.ok()) return fail(data.status());
  if (mpi != nullptr) ShareMachine(*mpi, *data, &config);

  Trainer::Options options = TrainerOptions(flags, config, *data, mpi);
  // On a terminal, one live line; in a log, a line every 5 seconds at most.
  ProgressLine progress(flags.quiet, absl::Now());
  options.on_epoch = [lead, &progress](const TrainProgress& p) {
    if (lead) progress.Show(FormatProgress(p));
  };
  absl::StatusOr<std::unique_ptr<Trainer>> trainer = Trainer::Create(options);
  if (!trainer.ok()) return fail(trainer.status());
  if (lead) {
    PrintTrainingPlan(flags, *data, (*trainer)->config(), options.input_dim, mpi != nullptr);
  }

  struct sigaction sa = {};
  sa.sa_handler = OnSigint;
  sigaction(SIGINT, &sa, nullptr);
  absl::StatusOr<std::unique_ptr<Model>> model =
      data->row_file ? (*trainer)->Train(*data->row_file)
                     : (*trainer)->Train(data->table.values, data->classes.classes);
  progress.Clear();
  if (!model.ok()) return fail(model.status());
  if (mpi != nullptr) {
    // Every rank's checksum, for a reader of the job's log to compare (the
    // trainer has already checked they agree).
    std::cout << absl::StrFormat("rank %d of %d: weights crc32c %08x\n", mpi->rank(), mpi->size(),
                                 WeightsChecksum((*model)->autoencoder()))
              << std::flush;
    if (!lead) return kExitOk;
  }
  absl::StatusOr<std::string> path = SaveModel(flags, **model);
  if (!path.ok()) return fail(path.status());
  // Data-parallel, this rank holds a part of the rows only.
  const bool all_rows = mpi == nullptr && !flags.mapped;
  PrintTrainingSummary(**model, all_rows ? &data->table.values : nullptr, *path);
  return kExitOk;
}

}  // namespace strata::cli
