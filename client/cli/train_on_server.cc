#include "client/cli/train_on_server.h"

#include <signal.h>
#include <unistd.h>

#include <iostream>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "client/cli/job_messages.h"
#include "client/cli/progress_line.h"
#include "client/cli/server_gone.h"
#include "client/cli/train_data.h"
#include "client/strata_client.h"
#include "client/training_report.h"
#include "core/train/sweep.h"
#include "proto/train_job_csv.h"
#include "proto/train_progress.h"

namespace strata::cli {
namespace {

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

// Follows SIGINT to OnSigintWhileFollowing, which says `message`.
void StopFollowingOnSigint(const std::string& message) {
  g_follow_interrupted = message;
  struct sigaction on_sigint = {};
  on_sigint.sa_handler = OnSigintWhileFollowing;
  sigaction(SIGINT, &on_sigint, nullptr);
}

void RestoreSigint() {
  struct sigaction on_sigint = {};
  on_sigint.sa_handler = SIG_DFL;
  sigaction(SIGINT, &on_sigint, nullptr);
}

// The progress line of a followed job: a sweep's names its trial, and how
// many of the trials have ended.
std::string JobProgressLine(const v1::TrainJob& j) {
  std::string line = FormatProgress(FromTrainJobProgress(j.progress()));
  if (j.progress().trial() > 0) {
    int ended = 0;
    for (const v1::SweepTrial& t : j.sweep().trials()) {
      ended += t.state() != v1::SweepTrial::QUEUED && t.state() != v1::SweepTrial::RUNNING;
    }
    line = absl::StrFormat("trial %d (%d/%d ended) %s", j.progress().trial(), ended,
                           j.sweep().trials_size(), line);
  }
  return line;
}

// "submitted job-3-5f1a (model m)", and for a sweep its trials and objective.
void PrintSubmitted(const v1::TrainJob& job) {
  std::cout << "submitted " << job.id() << " (model " << job.model_name() << ")";
  if (job.sweep().trials_size() > 0) {
    std::cout << ": a sweep of " << job.sweep().trials_size() << " trials, objective "
              << v1::SweepObjective_Name(job.sweep().objective());
  }
  std::cout << std::endl;
}

// A job that SUCCEEDED: what it published, and for a sweep which trial.
void PrintSucceeded(const v1::TrainJob& done) {
  if (done.sweep().best_trial() > 0 && done.sweep().best_trial() <= done.sweep().trials_size()) {
    const v1::SweepTrial& best = done.sweep().trials(done.sweep().best_trial() - 1);
    std::cout << absl::StrFormat(
        "%s SUCCEEDED: published %s version %d, trial %d (%s), objective %.6g\n", done.id(),
        done.model_name(), done.version(), best.trial(), FormatSweepSettings(best),
        best.objective());
  } else {
    // The summary's figures, which `strata inspect` shows: every
    // network's epochs, and the seconds of the whole training (the last
    // progress report's seconds stop at the last epoch). A server from before
    // the job carried its summary: the progress.
    v1::TrainingSummary summary = done.summary();
    if (!done.has_summary()) {
      summary.set_epochs(done.progress().epochs_done());
      summary.set_seconds(done.progress().elapsed_seconds());
    }
    std::cout << absl::StrFormat("%s SUCCEEDED after %s: published %s version %d\n", done.id(),
                                 FormatEpochsAndSeconds(summary, done.progress().networks()),
                                 done.model_name(), done.version());
    if (summary.has_classifier() && summary.classifier().train_labelled_rows() > 0) {
      std::cout << FormatClassifierSummary(summary.classifier(),
                                           summary.classifier().class_counts_size())
                << "\n";
    }
  }
  for (const std::string& w : done.warnings()) std::cerr << "warning: " << w << "\n";
}

// What a followed job ended as; the exit code.
int ReportJobEnd(const char* command, const v1::TrainJob& done) {
  if (done.sweep().trials_size() > 0) std::cout << FormatSweepTable(done.sweep());
  switch (done.state()) {
    case v1::TrainJob::SUCCEEDED:
      PrintSucceeded(done);
      return kExitOk;
    case v1::TrainJob::CANCELLED:
      // The job's error says by what (a cancel, a server that stopped).
      std::cerr << "strata " << command << ": " << done.id() << " was cancelled"
                << (done.error().empty() ? "" : ": " + done.error()) << "; nothing was published\n";
      return kExitFailure;
    default:
      std::cerr << "strata " << command << ": " << done.id() << " "
                << v1::TrainJob::State_Name(done.state()) << ": " << done.error() << "\n";
      return kExitFailure;
  }
}

// The table flags.data_path holds, to upload with `spec` (which gets its
// class labels and feature names).
absl::StatusOr<CsvTable> ReadUpload(const TrainFlags& flags, const CsvOptions& csv,
                                    v1::TrainJobSpec* spec) {
  absl::StatusOr<CsvTable> table = ReadCsvFile(flags.data_path, csv);
  if (!table.ok()) return table.status();
  // Checked here too, where the message can name the file's lines.
  if (absl::StatusOr<ClassLabels> classes =
          FileClassLabels(*table, spec->config(), flags.data_path);
      !classes.ok()) {
    return classes.status();
  }
  spec->mutable_class_labels()->Add(table->labels.begin(), table->labels.end());
  spec->mutable_feature_names()->Add(table->column_names.begin(), table->column_names.end());
  return table;
}

// The request that trains on flags.server_csv, a file under the server's --data_root.
v1::SubmitTrainJobRequest ServerCsvRequest(const TrainFlags& flags, const CsvOptions& csv,
                                           v1::TrainJobSpec spec) {
  v1::SubmitTrainJobRequest request;
  SetCsvOptions(csv, &spec);
  *request.mutable_spec() = std::move(spec);
  request.set_csv_path(flags.server_csv);
  return request;
}

}  // namespace

int TrainOnServer(const GlobalFlags& global, const TrainFlags& flags, v1::TrainJobSpec spec,
                  const CsvOptions& csv) {
  const char* command = flags.command;
  absl::StatusOr<std::unique_ptr<StrataClient>> client = Connect(global);
  if (!client.ok()) return Fail(command, client.status());
  // The server going away mid-call is said in words, not gRPC's.
  const auto fail = [&global, command](const absl::Status& status, const std::string& progress) {
    return Fail(command, ServerGone(status, global.server, progress));
  };
  absl::StatusOr<v1::TrainJob> job;
  if (!flags.job_id.empty()) {
    job = (*client)->GetTrainJob(flags.job_id);
  } else if (!flags.server_csv.empty()) {
    job = (*client)->SubmitTrainJob(ServerCsvRequest(flags, csv, std::move(spec)));
  } else {
    absl::StatusOr<CsvTable> table = ReadUpload(flags, csv, &spec);
    if (!table.ok()) return Fail(command, table.status());
    job = (*client)->UploadTrainJob(spec, table->values.data(), table->values.rows(),
                                    static_cast<int32_t>(table->values.cols()));
  }
  if (!job.ok()) return fail(job.status(), "");
  ProgressLine progress(flags.quiet, absl::InfinitePast());
  // From here Ctrl-C leaves a job running on the server: installed before
  // the job's id is printed, so that an interrupt after it always says so.
  if (flags.wait) {
    StopFollowingOnSigint(absl::StrCat(progress.live() ? "\r\033[K" : "",
                                       InterruptedWaitMessage(global, command, *job)));
  }
  if (flags.job_id.empty()) PrintSubmitted(*job);
  if (!flags.wait) return kExitOk;

  v1::TrainJob last = *job;  // where it stood, should the server go away
  absl::StatusOr<v1::TrainJob> done =
      (*client)->WatchTrainJob(job->id(), [&](const v1::TrainJob& j) {
        last = j;
        if (j.progress().epochs_done() == 0) return;
        progress.Show(JobProgressLine(j));
      });
  RestoreSigint();
  progress.Clear();
  if (!done.ok()) return fail(done.status(), LastSeenJob(global, last));
  return ReportJobEnd(command, *done);
}

}  // namespace strata::cli
