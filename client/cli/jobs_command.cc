// strata jobs: lists a server's training jobs, shows one, or cancels one.
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/cli/cli_flags.h"
#include "client/cli/commands.h"
#include "client/cli/job_messages.h"
#include "client/cli/server_gone.h"
#include "client/strata_client.h"
#include "client/training_report.h"

namespace strata::cli {
namespace {

bool IsEnded(v1::TrainJob::State state) {
  return state == v1::TrainJob::SUCCEEDED || state == v1::TrainJob::FAILED ||
         state == v1::TrainJob::CANCELLED;
}

}  // namespace

int RunJobs(const GlobalFlags& global, const std::vector<std::string>& args) {
  std::string output = "table", model, id, cancel;
  FlagSet flags("jobs", "Lists training jobs, shows one (--id) or cancels one (--cancel).");
  flags.AddString("model", &model, "NAME", "only this model's jobs");
  flags.AddString("id", &id, "ID", "show this job");
  flags.AddString("cancel", &cancel, "ID", "cancel this job");
  flags.AddString("output", &output, "table|csv|json", "output format");
  if (int code = flags.ParseOrExit(args); code >= 0) return code;
  if (absl::Status s = CheckOutput(output); !s.ok()) {
    Fail("jobs", s);
    return kExitUsage;
  }
  auto client = Connect(global);
  if (!client.ok()) return Fail("jobs", client.status());
  v1::ListTrainJobsResponse jobs;
  if (!cancel.empty()) {
    // The server answers a cancel of an ended job with the job (cancelling
    // is idempotent), but the user asked to stop a job that had stopped:
    // exit 1 (failed, one line on stderr), as kill(1) does for a process
    // that has exited, so that no script reads it as "cancelled" (and not 2:
    // the command line was fine). The state is read first because a queued
    // job's cancel ends it at once, CANCELLED like one cancelled before.
    absl::StatusOr<v1::TrainJob> job = (*client)->GetTrainJob(cancel);
    if (!job.ok()) return Fail("jobs", ServerGone(job.status(), global.server, ""));
    const bool had_ended = IsEnded(job->state());
    if (!had_ended) {
      job = (*client)->CancelTrainJob(cancel);
      if (!job.ok()) {
        return Fail(
            "jobs",
            ServerGone(job.status(), global.server,
                       absl::StrCat("whether ", cancel, " was cancelled is unknown; ask with '",
                                    StrataCommandLine(global, "jobs --id " + cancel),
                                    "' once the server answers")));
      }
    }
    // SUCCEEDED or FAILED after the cancel: it ended on its own meanwhile.
    if (had_ended || job->state() == v1::TrainJob::SUCCEEDED ||
        job->state() == v1::TrainJob::FAILED) {
      return Fail("jobs", absl::FailedPreconditionError(absl::StrCat(
                              cancel, " had already ended (",
                              v1::TrainJob::State_Name(job->state()), "): nothing to cancel")));
    }
    // On stderr, so that --output csv and json stay the job alone.
    std::cerr << CancelRequested(*job) << "\n";
    *jobs.add_jobs() = *std::move(job);
  } else if (!id.empty()) {
    absl::StatusOr<v1::TrainJob> job = (*client)->GetTrainJob(id);
    if (!job.ok()) return Fail("jobs", ServerGone(job.status(), global.server, ""));
    *jobs.add_jobs() = *std::move(job);
  } else {
    absl::StatusOr<v1::ListTrainJobsResponse> list = (*client)->ListTrainJobs(model);
    if (!list.ok()) return Fail("jobs", ServerGone(list.status(), global.server, ""));
    jobs = *std::move(list);
  }
  if (output == "json") {
    PrintJson(jobs);
    return kExitOk;
  }
  PrintTable(FormatJobsTable(jobs.jobs()), output == "csv");
  return kExitOk;
}

}  // namespace strata::cli
