// strata train: trains a model on a CSV file and writes its artifact.
#include <glob.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/cli_flags.h"
#include "client/commands.h"
#include "client/job_messages.h"
#include "client/mpi_collective.h"
#include "client/server_gone.h"
#include "client/strata_client.h"
#include "client/training_report.h"
#include "core/base/file_util.h"
#include "core/data/class_labels.h"
#include "core/data/csv_reader.h"
#include "core/data/row_file.h"
#include "core/model/model_io.h"
#include "core/model/model_store.h"
#include "core/train/sweep.h"
#include "core/train/train_config.h"
#include "core/train/trainer.h"
#include "proto/train_job_csv.h"

namespace strata::cli {
namespace {

std::atomic<bool> g_interrupted{false};

void OnSigint(int) { g_interrupted.store(true); }

// What Ctrl-C prints while a server's job is followed (InterruptedWaitMessage),
// made before OnSigintWhileFollowing is installed: a signal handler may
// only read it.
std::string g_follow_interrupted;

// Ctrl-C stops the following, not the job: say so, and exit 130. write(2)
// and _exit(2) are async-signal-safe; the gRPC call is not ended cleanly,
// and the server lets the watch go.
void OnSigintWhileFollowing(int) {
  const ssize_t written =
      write(STDERR_FILENO, g_follow_interrupted.data(), g_follow_interrupted.size());
  (void)written;
  _exit(kExitInterrupted);
}

// "train" or "sweep": the command whose errors these are.
const char* g_command = "train";

int Fail(const absl::Status& status) { return cli::Fail(g_command, status); }

TrainProgress FromWire(const v1::TrainJobProgress& p) {
  TrainProgress out;
  out.record.set_phase(p.phase());
  out.record.set_layer(p.layer());
  out.record.set_epoch(p.epoch());
  out.record.set_train_loss(p.train_loss());
  if (p.has_validation_loss()) out.record.set_validation_loss(p.validation_loss());
  if (p.has_validation_accuracy()) out.record.set_validation_accuracy(p.validation_accuracy());
  out.record.set_learning_rate(p.learning_rate());
  out.epochs_done = p.epochs_done();
  out.epochs_planned = p.epochs_planned();
  out.elapsed_seconds = p.elapsed_seconds();
  out.eta_seconds = p.eta_seconds();
  // 0 from a server before networks were counted: the served one of one.
  out.network = std::max(p.network(), 1);
  out.networks = std::max(p.networks(), 1);
  return out;
}

// The file's label column (csv.label_column) indexed against the config's
// declared classes; errors name the file and line. No labels: none.
absl::StatusOr<ClassLabels> FileClassLabels(const CsvTable& table, const v1::TrainConfig& config,
                                            const std::string& path) {
  if (table.labels.empty()) return ClassLabels();
  absl::StatusOr<ClassLabels> classes =
      IndexClassLabels(table.labels, DeclaredClassNames(config), table.lines);
  if (!classes.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ", label column: ", classes.status().message()));
  }
  return classes;
}

// The rows of `files` one after another; every file must have the first's
// columns, by name.
absl::StatusOr<CsvTable> ReadCsvFiles(const std::vector<std::string>& files,
                                      const CsvOptions& csv) {
  absl::StatusOr<CsvTable> all = ReadCsvFile(files[0], csv);
  if (!all.ok() || files.size() == 1) return all;
  if (!csv.label_column.empty()) {
    return absl::InvalidArgumentError(
        "--label_column takes one --data file (its line numbers name the rows)");
  }
  std::vector<Matrix> parts = {std::move(all->values)};
  Eigen::Index rows = parts[0].rows();
  for (size_t f = 1; f < files.size(); ++f) {
    absl::StatusOr<CsvTable> next = ReadCsvFile(files[f], csv);
    if (!next.ok()) return next.status();
    if (absl::Status s =
            CheckShardColumns(files[0], all->column_names, files[f], next->column_names);
        !s.ok()) {
      return s;
    }
    rows += next->values.rows();
    parts.push_back(std::move(next->values));
  }
  all->values.resize(rows, parts[0].cols());
  Eigen::Index at = 0;
  for (const Matrix& part : parts) {
    all->values.middleRows(at, part.rows()) = part;
    at += part.rows();
  }
  all->lines.clear();
  return all;
}

// This rank's block of whole shards (rank 0's first); InvalidArgument, with
// `otherwise` as the alternative, for fewer shards than ranks.
absl::StatusOr<std::vector<std::string>> RankShards(const std::vector<std::string>& files,
                                                    MpiCollective& mpi, absl::string_view otherwise,
                                                    std::string* what) {
  const size_t n = static_cast<size_t>(mpi.size()), rank = static_cast<size_t>(mpi.rank());
  if (files.size() < n) {
    return absl::InvalidArgumentError(absl::StrCat(n, " ranks for ", files.size(),
                                                   " shards: give at least one shard per rank, or ",
                                                   otherwise));
  }
  const size_t begin = files.size() * rank / n, end = files.size() * (rank + 1) / n;
  std::vector<std::string> mine(files.begin() + begin, files.begin() + end);
  *what = absl::StrCat(mine.size(), " shards, ", mine.front(), " to ", mine.back());
  return mine;
}

// OK when every rank's data has rank 0's columns, by name.
absl::Status AgreeOnColumns(const std::vector<std::string>& names, MpiCollective& mpi) {
  const std::vector<std::string> all = mpi.AllGather(absl::StrJoin(names, ","));
  for (size_t r = 0; r < all.size(); ++r) {
    if (all[r] != all[0]) {
      return absl::InvalidArgumentError(
          absl::StrCat("rank ", r, "'s data has the columns ", all[r], "; rank 0's has ", all[0]));
    }
  }
  return absl::OkStatus();
}

// This rank's part of the training data: with one file, every n-th row
// (from row `rank`); with several, a block of whole files (rank 0's
// first). The ranks' column names must agree.
absl::StatusOr<CsvTable> ReadRankData(const std::vector<std::string>& files, const CsvOptions& csv,
                                      MpiCollective& mpi, Trainer::Options::RowLayout* layout,
                                      std::string* what) {
  const int rank = mpi.rank(), n = mpi.size();
  absl::StatusOr<CsvTable> table;
  if (files.size() == 1) {
    *layout = Trainer::Options::RowLayout::kInterleaved;
    table = ReadCsvFile(files[0], csv);
    if (table.ok()) {
      const Eigen::Index rows = (table->values.rows() - rank + n - 1) / n;
      Matrix mine(std::max<Eigen::Index>(rows, 0), table->values.cols());
      for (Eigen::Index i = 0; i < mine.rows(); ++i) mine.row(i) = table->values.row(i * n + rank);
      table->values = std::move(mine);
      table->lines.clear();
      *what = absl::StrFormat("every %d-th row of %s from row %d", n, files[0], rank);
    }
  } else {
    absl::StatusOr<std::vector<std::string>> mine = RankShards(files, mpi, "one file", what);
    *layout = Trainer::Options::RowLayout::kBlocks;
    table = mine.ok() ? ReadCsvFiles(*mine, csv) : absl::StatusOr<CsvTable>(mine.status());
  }
  if (absl::Status s = AgreeOnStatus(&mpi, table.status()); !s.ok()) return s;
  if (absl::Status s = AgreeOnColumns(table->column_names, mpi); !s.ok()) return s;
  return table;
}

// Submits the job (uploading the CSV, or naming one under the server's
// --data_root) and, with `wait`, follows it to the end.
// With `follow_id`, follows that job instead of submitting one. A sweep's
// results table is printed when it ends.
int TrainOnServer(const GlobalFlags& global, v1::TrainJobSpec spec, const std::string& data_path,
                  const std::string& server_csv, const CsvOptions& csv, bool wait, bool quiet,
                  const std::string& follow_id = "") {
  absl::StatusOr<std::unique_ptr<StrataClient>> client = Connect(global);
  if (!client.ok()) return Fail(client.status());
  // The server going away mid-call is said in words, not gRPC's.
  const auto fail = [&global](const absl::Status& status, const std::string& progress) {
    return Fail(ServerGone(status, global.server, progress));
  };
  absl::StatusOr<v1::TrainJob> job;
  if (!follow_id.empty()) {
    job = (*client)->GetTrainJob(follow_id);
  } else if (!server_csv.empty()) {
    v1::SubmitTrainJobRequest request;
    SetCsvOptions(csv, &spec);
    *request.mutable_spec() = std::move(spec);
    request.set_csv_path(server_csv);
    job = (*client)->SubmitTrainJob(request);
  } else {
    absl::StatusOr<CsvTable> table = ReadCsvFile(data_path, csv);
    if (!table.ok()) return Fail(table.status());
    // Checked here too, where the message can name the file's lines.
    if (absl::StatusOr<ClassLabels> classes = FileClassLabels(*table, spec.config(), data_path);
        !classes.ok()) {
      return Fail(classes.status());
    }
    spec.mutable_class_labels()->Add(table->labels.begin(), table->labels.end());
    spec.mutable_feature_names()->Add(table->column_names.begin(), table->column_names.end());
    job = (*client)->UploadTrainJob(spec, table->values.data(), table->values.rows(),
                                    static_cast<int32_t>(table->values.cols()));
  }
  if (!job.ok()) return fail(job.status(), "");
  const bool live = !quiet && isatty(STDERR_FILENO);
  // From here Ctrl-C leaves a job running on the server: installed before
  // the job's id is printed, so that an interrupt after it always says so.
  struct sigaction on_sigint = {};
  if (wait) {
    g_follow_interrupted =
        absl::StrCat(live ? "\r\033[K" : "", InterruptedWaitMessage(global, g_command, *job));
    on_sigint.sa_handler = OnSigintWhileFollowing;
    sigaction(SIGINT, &on_sigint, nullptr);
  }
  if (follow_id.empty()) {
    std::cout << "submitted " << job->id() << " (model " << job->model_name() << ")";
    if (job->sweep().trials_size() > 0) {
      std::cout << ": a sweep of " << job->sweep().trials_size() << " trials, objective "
                << v1::SweepObjective_Name(job->sweep().objective());
    }
    std::cout << std::endl;
  }
  if (!wait) return kExitOk;

  absl::Time last_line = absl::InfinitePast();
  v1::TrainJob last = *job;  // where it stood, should the server go away
  absl::StatusOr<v1::TrainJob> done =
      (*client)->WatchTrainJob(job->id(), [&](const v1::TrainJob& j) {
        last = j;
        if (j.progress().epochs_done() == 0) return;
        std::string line = FormatProgress(FromWire(j.progress()));
        if (j.progress().trial() > 0) {
          int ended = 0;
          for (const v1::SweepTrial& t : j.sweep().trials()) {
            ended += t.state() != v1::SweepTrial::QUEUED && t.state() != v1::SweepTrial::RUNNING;
          }
          line = absl::StrFormat("trial %d (%d/%d ended) %s", j.progress().trial(), ended,
                                 j.sweep().trials_size(), line);
        }
        if (live) {
          std::cerr << "\r\033[K" << line << std::flush;
        } else if (!quiet && absl::Now() - last_line >= absl::Seconds(5)) {
          std::cerr << line << "\n";
          last_line = absl::Now();
        }
      });
  on_sigint.sa_handler = SIG_DFL;
  sigaction(SIGINT, &on_sigint, nullptr);
  if (live) std::cerr << "\r\033[K" << std::flush;
  if (!done.ok()) return fail(done.status(), LastSeenJob(global, last));
  if (done->sweep().trials_size() > 0) std::cout << FormatSweepTable(done->sweep());
  switch (done->state()) {
    case v1::TrainJob::SUCCEEDED:
      if (done->sweep().best_trial() > 0 &&
          done->sweep().best_trial() <= done->sweep().trials_size()) {
        const v1::SweepTrial& best = done->sweep().trials(done->sweep().best_trial() - 1);
        std::cout << absl::StrFormat(
            "%s SUCCEEDED: published %s version %d, trial %d (%s), objective %.6g\n", done->id(),
            done->model_name(), done->version(), best.trial(), FormatSweepSettings(best),
            best.objective());
      } else {
        // The summary's figures, which `strata inspect` shows: every
        // network's epochs, and the seconds of the whole training (the last
        // progress report's seconds stop at the last epoch). A server from before
        // the job carried its summary: the progress.
        v1::TrainingSummary summary = done->summary();
        if (!done->has_summary()) {
          summary.set_epochs(done->progress().epochs_done());
          summary.set_seconds(done->progress().elapsed_seconds());
        }
        std::cout << absl::StrFormat("%s SUCCEEDED after %s: published %s version %d\n", done->id(),
                                     FormatEpochsAndSeconds(summary, done->progress().networks()),
                                     done->model_name(), done->version());
        if (summary.has_classifier() && summary.classifier().train_labelled_rows() > 0) {
          std::cout << FormatClassifierSummary(summary.classifier(),
                                               summary.classifier().class_counts_size())
                    << "\n";
        }
      }
      for (const std::string& w : done->warnings()) std::cerr << "warning: " << w << "\n";
      return kExitOk;
    case v1::TrainJob::CANCELLED:
      // The job's error says by what (a cancel, a server that stopped).
      std::cerr << "strata " << g_command << ": " << done->id() << " was cancelled"
                << (done->error().empty() ? "" : ": " + done->error())
                << "; nothing was published\n";
      return kExitFailure;
    default:
      std::cerr << "strata " << g_command << ": " << done->id() << " "
                << v1::TrainJob::State_Name(done->state()) << ": " << done->error() << "\n";
      return kExitFailure;
  }
}

}  // namespace

namespace {

// strata train, or (with `sweep`) strata sweep: the same data and config
// flags, and for a sweep its spec.
int RunTrainOrSweep(const GlobalFlags& global, const std::vector<std::string>& args, bool sweep) {
  g_command = sweep ? "sweep" : "train";
  bool local = false, quiet = false, wait = sweep, mapped = false;
  int calibration_values = 1 << 24;
  std::string data_path, config_path, out_dir, drop_columns,
      header = "auto", model_name, labels, server_csv, label_column, sweep_path, job_id, store_root,
      row_cache;
  FlagSet flags(
      g_command,
      sweep
          ? "Runs a hyperparameter sweep on the server: trials of the config with the fields\n"
            "that SWEEP.json varies, each trained on the same data; the best is published\n"
            "as the next version of NAME, and the results table is printed.\n"
            "  strata sweep --model NAME --data FILE.csv --sweep SWEEP.json [--config BASE.json]\n"
            "  strata sweep --job ID     (follow a sweep already submitted)\n"
            "SWEEP.json is a SweepSpec (proto/strata/v1/train_config.proto), e.g.\n"
            "  {\"parameters\": [{\"field\": \"encoder_widths\", \"values\": [\"[32,8]\", "
            "\"[64,16]\"]}]}"
          : "Trains a stacked autoencoder on a numeric CSV file.\n"
            "  on a server:  strata train --model NAME --data FILE.csv [--wait]\n"
            "                (uploads the CSV; the server publishes the next version of NAME)\n"
            "  locally:      strata train --local --data FILE.csv --out DIR\n"
            "                (writes DIR/" +
                std::string(kModelFileName) +
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
  if (sweep) {
    flags.AddString("sweep", &sweep_path, "FILE.json", "the sweep (SweepSpec as JSON)");
    flags.AddString("job", &job_id, "ID", "follow this sweep job and print its table");
  } else {
    flags.AddBool("local", &local, "train in this process with the core library");
    flags.AddString("out", &out_dir, "DIR",
                    "--local: directory for the model (created if missing)");
    flags.AddString("store", &store_root, "ROOT",
                    "--local: publish into this model store as the next version of --model");
    flags.AddBool("mapped", &mapped,
                  "--local: train from a binary row file memory-mapped, for data larger than "
                  "memory (converted from --data once, reused while the shards are unchanged)");
    flags.AddString("row_cache", &row_cache, "DIR",
                    "--mapped: directory for the row file (created if missing); default: next to "
                    "the first shard");
    flags.AddInt("calibration_values", &calibration_values,
                 "--mapped or under mpirun: thresholds, percentiles and drift bin edges from "
                 "every k-th row when the rows hold more values than this (default 2^24, 64 MB)");
    flags.AddBool("wait", &wait, "server: follow the job with a progress bar until it ends");
  }
  flags.AddString("data", &data_path, "FILE.csv", "training data, one record per row");
  flags.AddString("config", &config_path, "FILE.json",
                  "training config (TrainConfig as JSON); default: all defaults");
  flags.AddString("model", &model_name, "NAME", "server: the model to publish a new version of");
  flags.AddString("labels", &labels, "A,B", "server: labels to point at the new version");
  flags.AddString("server_csv", &server_csv, "PATH",
                  "server: train on this CSV file, directory of shards or glob under the "
                  "server's --data_root (no upload; may be larger than the server's memory)");
  flags.AddString("drop_columns", &drop_columns, "A,B", "CSV columns to leave out, e.g. a label");
  flags.AddString("label_column", &label_column, "NAME",
                  "a column of class labels (empty or NA cell: unlabelled row): also train a "
                  "classifier head on the code (config field supervised), for strata predict");
  flags.AddString("header", &header, "auto|yes|no",
                  "whether the CSV's first line names the columns");
  flags.AddBool("quiet", &quiet, "no live progress line");
  if (int code = flags.ParseOrExit(args); code >= 0) return code;
  if (sweep && !job_id.empty()) {
    return TrainOnServer(global, {}, "", "", {}, /*wait=*/true, quiet, job_id);
  }
  if (sweep && sweep_path.empty()) {
    std::cerr << "strata sweep: give --sweep FILE.json, or --job ID (see --help)\n";
    return kExitUsage;
  }
  if (calibration_values < 1) {
    std::cerr << "strata " << g_command << ": --calibration_values must be at least 1\n";
    return kExitUsage;
  }
  if (mapped && !local) {
    std::cerr << "strata " << g_command << ": --mapped goes with --local (see --help)\n";
    return kExitUsage;
  }
  if (!mapped && !row_cache.empty()) {
    std::cerr << "strata " << g_command << ": --row_cache goes with --mapped (see --help)\n";
    return kExitUsage;
  }
  if (mapped && !label_column.empty()) {
    std::cerr << "strata " << g_command
              << ": --mapped keeps no class labels: train with --label_column from memory\n";
    return kExitUsage;
  }
  if (local ? (data_path.empty() || out_dir.empty() == store_root.empty() ||
               (!store_root.empty() && model_name.empty()))
            : (model_name.empty() || data_path.empty() == server_csv.empty())) {
    std::cerr << "strata " << g_command << ": "
              << (local ? "--local needs --data, and --out or --store with --model"
                        : "give --model and one of --data (upload) or --server_csv")
              << " (see --help)\n";
    return kExitUsage;
  }
  // Flags of the other mode would be silently ignored.
  const char* misplaced = nullptr;
  if (local && !labels.empty()) {
    misplaced =
        "--labels moves labels on a server: after --local --store, point them with "
        "'strata label'";
  } else if (local && !server_csv.empty()) {
    misplaced = "--server_csv names a file on a server: with --local, give --data";
  } else if (!local && !sweep && (!out_dir.empty() || !store_root.empty())) {
    misplaced = "--out and --store go with --local";
  } else if (local && wait) {
    misplaced = "--wait follows a server's job: --local trains in this process";
  } else if (local && !out_dir.empty() && !model_name.empty()) {
    misplaced = "--model names the model to publish into --store: with --out, leave it out";
  } else if (!sweep && flags.Given("calibration_values") && !mapped &&
             !(local && MpiCollective::LaunchedRanks() > 1)) {
    misplaced =
        "--calibration_values bounds the calibration sample of --local --mapped or "
        "of data-parallel training under mpirun";
  }
  if (misplaced != nullptr) {
    std::cerr << "strata " << g_command << ": " << misplaced << " (see --help)\n";
    return kExitUsage;
  }
  // Checked now, not after hours of training.
  if (local && !store_root.empty()) {
    if (absl::Status s = ModelStore::ValidateModelName(model_name); !s.ok()) {
      std::cerr << "strata " << g_command << ": --model: " << s.message() << "\n";
      return kExitUsage;
    }
  }
  CsvOptions csv;
  absl::StatusOr<CsvOptions::Header> header_mode = ParseCsvHeaderMode(header);
  if (!header_mode.ok()) {
    std::cerr << "strata " << g_command << ": " << header_mode.status().message() << "\n";
    return kExitUsage;
  }
  csv.header = *header_mode;
  if (!drop_columns.empty()) csv.drop_columns = absl::StrSplit(drop_columns, ',');
  csv.label_column = label_column;

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
  if (!local) {
    if (MpiCollective::LaunchedRanks() > 1) {
      // Each rank would submit the same job.
      std::cerr << "strata " << g_command
                << ": under mpirun, train with --local (each rank trains its part)\n";
      return kExitUsage;
    }
    v1::TrainJobSpec spec;
    spec.set_model_name(model_name);
    *spec.mutable_config() = config;
    if (!labels.empty()) {
      for (absl::string_view l : absl::StrSplit(labels, ',')) spec.add_labels(std::string(l));
    }
    if (sweep) {
      absl::StatusOr<std::string> json = ReadFileToString(sweep_path);
      if (!json.ok()) return Fail(json.status());
      absl::StatusOr<v1::SweepSpec> parsed = ParseSweepSpecJson(*json);
      if (!parsed.ok()) {
        return Fail(absl::Status(parsed.status().code(),
                                 absl::StrCat(sweep_path, ": ", parsed.status().message())));
      }
      *spec.mutable_sweep() = *std::move(parsed);
    }
    return TrainOnServer(global, std::move(spec), data_path, server_csv, csv, wait, quiet);
  }
  // Under mpirun: one rank of a data-parallel training.
  absl::StatusOr<std::unique_ptr<MpiCollective>> mpi = MpiCollective::FromEnvironment();
  if (!mpi.ok()) return Fail(mpi.status());
  // A rank that fails alone must not leave the others waiting in a
  // collective (nor block in MPI_Finalize): it ends the whole MPI job, and
  // mpirun exits non-zero.
  const auto fail = [&mpi](const absl::Status& status) {
    const int code = Fail(status);
    if (*mpi != nullptr) (*mpi)->Abort(code);
    return code;
  };
  const bool lead = *mpi == nullptr || (*mpi)->rank() == 0;
  if (*mpi != nullptr && !csv.label_column.empty()) {
    return fail(absl::InvalidArgumentError(
        "--label_column: class labels (a classifier head) are not trained data-parallel; "
        "train it in one process"));
  }
  // The row file's directory is made here, as strata-server makes its
  // --row_cache_dir: RowFile creates files in it, not the directory.
  if (!row_cache.empty()) {
    if (absl::Status s = CreateDirectories(row_cache); !s.ok()) {
      return fail(absl::Status(s.code(), absl::StrCat("--row_cache: ", s.message())));
    }
  }
  absl::StatusOr<std::vector<std::string>> files = ListDataFiles(data_path);
  if (!files.ok()) {
    files = absl::Status(files.status().code(), absl::StrCat("--data ", files.status().message()));
  }
  // Every rank learns whether any rank's --data matched no file.
  const absl::Status listed =
      *mpi == nullptr ? files.status() : AgreeOnStatus(mpi->get(), files.status());
  Trainer::Options::RowLayout layout = Trainer::Options::RowLayout::kInterleaved;
  std::string rank_data;
  // --mapped: the rows stay in the row file; `table` holds the column names.
  std::unique_ptr<RowFile> row_file;
  absl::StatusOr<CsvTable> table = CsvTable();
  if (mapped) {
    // Under mpirun, each rank its own row file of its block of shards.
    absl::StatusOr<std::vector<std::string>> mine = files;
    if (listed.ok() && *mpi != nullptr) {
      mine = RankShards(*files, **mpi, "train one file in one process", &rank_data);
      layout = Trainer::Options::RowLayout::kBlocks;
    }
    absl::StatusOr<std::unique_ptr<RowFile>> opened = absl::UnknownError("not opened");
    if (!listed.ok() || !mine.ok()) {
      opened = !listed.ok() ? listed : mine.status();
    } else {
      RowFile::Source source;
      source.files = *mine;
      source.csv = csv;
      source.cache_dir = row_cache;
      opened = RowFile::FromCsv(source);
    }
    if (*mpi != nullptr) {
      if (absl::Status s = AgreeOnStatus(mpi->get(), opened.status()); !s.ok()) return fail(s);
      if (absl::Status s = AgreeOnColumns((*opened)->column_names(), **mpi); !s.ok()) {
        return fail(s);
      }
    }
    if (!opened.ok()) return fail(opened.status());
    row_file = *std::move(opened);
    table->column_names = row_file->column_names();
    std::cout << absl::StrFormat("%s %s (%d shards)\n",
                                 row_file->converted() ? "converted --data into" : "mapping",
                                 row_file->path(), mine->size())
              << std::flush;
  } else {
    table = !listed.ok()      ? absl::StatusOr<CsvTable>(listed)
            : *mpi == nullptr ? ReadCsvFiles(*files, csv)
                              : ReadRankData(*files, csv, **mpi, &layout, &rank_data);
  }
  if (!table.ok()) return fail(table.status());
  const Eigen::Index data_rows = mapped ? row_file->rows().rows() : table->values.rows();
  const Eigen::Index data_cols = mapped ? row_file->rows().cols() : table->values.cols();
  absl::StatusOr<ClassLabels> classes = FileClassLabels(*table, config, data_path);
  if (!classes.ok()) return fail(classes.status());
  if (*mpi != nullptr) {
    std::cout << absl::StrFormat("rank %d of %d (pid %d): %d rows, %s\n", (*mpi)->rank(),
                                 (*mpi)->size(), getpid(), data_rows, rank_data)
              << std::flush;
    // The machine's cores, shared by its ranks.
    if (config.threads() == 0) {
      config.set_threads(std::max(
          1, static_cast<int>(std::thread::hardware_concurrency()) / (*mpi)->local_size()));
    }
  }

  const bool live = !quiet && isatty(STDERR_FILENO);
  Trainer::Options options;
  options.config = config;
  options.input_dim = static_cast<int>(data_cols);
  options.calibration_values = calibration_values;
  options.feature_names = table->column_names;
  options.class_names = classes->names;
  options.cancel = &g_interrupted;
  if (*mpi != nullptr) {
    options.collective = mpi->get();
    options.row_layout = layout;
  }
  // On a terminal, one live line; in a log, a line every 5 seconds at most.
  absl::Time last_line = absl::Now();
  options.on_epoch = [live, quiet, lead, &last_line](const TrainProgress& p) {
    if (!lead) return;
    if (live) {
      std::cerr << "\r\033[K" << FormatProgress(p) << std::flush;
    } else if (!quiet && absl::Now() - last_line >= absl::Seconds(5)) {
      std::cerr << FormatProgress(p) << "\n";
      last_line = absl::Now();
    }
  };
  absl::StatusOr<std::unique_ptr<Trainer>> trainer = Trainer::Create(options);
  if (!trainer.ok()) return fail(trainer.status());
  const v1::TrainConfig& resolved = (*trainer)->config();
  if (lead) {
    std::cout
        << absl::StrFormat("training on %d rows x %d features from %s%s\n", data_rows, data_cols,
                           data_path, *mpi == nullptr ? "" : " (rank 0's)")
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
  }

  struct sigaction sa = {};
  sa.sa_handler = OnSigint;
  sigaction(SIGINT, &sa, nullptr);
  absl::StatusOr<std::unique_ptr<Model>> model =
      mapped ? (*trainer)->Train(*row_file) : (*trainer)->Train(table->values, classes->classes);
  if (live) std::cerr << "\r\033[K" << std::flush;
  if (!model.ok()) return fail(model.status());
  if (*mpi != nullptr) {
    // Every rank's checksum, for a reader of the job's log to compare (the
    // trainer has already checked they agree).
    std::cout << absl::StrFormat("rank %d of %d: weights crc32c %08x\n", (*mpi)->rank(),
                                 (*mpi)->size(), WeightsChecksum((*model)->autoencoder()))
              << std::flush;
    if (!lead) return kExitOk;
  }

  std::string path;
  if (!store_root.empty()) {
    // As strata-server publishes: a complete version directory, renamed
    // into place, under a number never handed out before.
    absl::StatusOr<std::unique_ptr<ModelStore>> store = ModelStore::Create({store_root});
    if (!store.ok()) return fail(store.status());
    absl::StatusOr<int64_t> version = (*store)->Publish(model_name, **model);
    if (!version.ok()) return fail(version.status());
    path = (*store)->ModelFilePath(model_name, *version);
  } else {
    path = absl::StrCat(out_dir, "/", kModelFileName);
    if (absl::Status s = CreateDirectories(out_dir); !s.ok()) return fail(s);
    if (absl::Status s = WriteModelFile(**model, path); !s.ok()) return fail(s);
  }

  const v1::TrainingSummary& summary = (*model)->info().summary;
  std::cout << "\ntraining curve (the served network):\n"
            << FormatCurve((*model)->info().history) << "\n";
  std::cout << absl::StrFormat(
      "%s; final reconstruction loss (%s): train %.6g",
      FormatEpochsAndSeconds(summary, (*model)->info().config.anomaly().ensemble_size()),
      v1::Loss_Name((*model)->info().config.loss()), summary.final_train_loss());
  if (summary.has_final_validation_loss()) {
    std::cout << absl::StrFormat(", validation %.6g (%d held-out rows)",
                                 summary.final_validation_loss(), summary.validation_rows());
  }
  std::cout << "\n";
  // Data-parallel, this rank holds a part of the rows only.
  if (*mpi == nullptr && !mapped) std::cout << FormatReconstructionError(**model, table->values);
  if ((*model)->classifier().has_value()) {
    std::cout << FormatClassifierSummary(summary.classifier(),
                                         static_cast<int>((*model)->info().class_names.size()))
              << "\n";
  }
  std::cout << "model written to " << path << "\n";
  for (const std::string& w : summary.warnings()) std::cerr << "warning: " << w << "\n";
  return kExitOk;
}

}  // namespace

int RunTrain(const GlobalFlags& global, const std::vector<std::string>& args) {
  return RunTrainOrSweep(global, args, /*sweep=*/false);
}

int RunSweep(const GlobalFlags& global, const std::vector<std::string>& args) {
  return RunTrainOrSweep(global, args, /*sweep=*/true);
}

}  // namespace strata::cli
