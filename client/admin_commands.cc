// strata models | jobs | label: looking after the models and jobs of a server.
#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/cli_flags.h"
#include "client/commands.h"
#include "client/strata_client.h"
#include "core/drift.h"

namespace strata::cli {
namespace {

absl::Status CheckOutput(const std::string& output) {
  if (output == "table" || output == "csv" || output == "json") return absl::OkStatus();
  return absl::InvalidArgumentError("--output must be table, csv or json");
}

// Prints rows as an aligned table or as CSV.
void PrintTable(const std::vector<std::vector<std::string>>& rows, bool csv) {
  if (csv) {
    for (const auto& row : rows) std::cout << absl::StrJoin(row, ",") << "\n";
    return;
  }
  std::vector<size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    std::cout << line << "\n";
  }
}

std::string Labels(const google::protobuf::Map<std::string, int64_t>& labels) {
  std::vector<std::string> parts;
  for (const auto& [label, version] : labels) parts.push_back(absl::StrCat(label, "=", version));
  std::sort(parts.begin(), parts.end());
  return absl::StrJoin(parts, " ");
}

bool IsEnded(v1::TrainJob::State state) {
  return state == v1::TrainJob::SUCCEEDED || state == v1::TrainJob::FAILED ||
         state == v1::TrainJob::CANCELLED;
}

std::string Time(int64_t unix_micros) {
  if (unix_micros == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixMicros(unix_micros),
                          absl::LocalTimeZone());
}

}  // namespace

int RunModels(const GlobalFlags& global, const std::vector<std::string>& args) {
  std::string output = "table";
  FlagSet flags("models", "Lists the models a server serves, their versions and labels.");
  flags.AddString("output", &output, "table|csv|json", "output format");
  if (int code = flags.ParseOrExit(args); code >= 0) return code;
  if (absl::Status s = CheckOutput(output); !s.ok()) {
    Fail("models", s);
    return kExitUsage;
  }
  auto client = Connect(global);
  if (!client.ok()) return Fail("models", client.status());
  absl::StatusOr<v1::ListModelsResponse> models = (*client)->ListModels();
  if (!models.ok()) return Fail("models", models.status());
  if (output == "json") {
    std::cout << Json(*models) << "\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {{"MODEL", "VERSIONS", "LATEST", "LABELS"}};
  for (const v1::ModelSummary& m : models->models()) {
    rows.push_back({m.name(), absl::StrJoin(m.versions(), " "),
                    m.versions().empty() ? "-" : absl::StrCat(*m.versions().rbegin()),
                    Labels(m.labels())});
  }
  PrintTable(rows, output == "csv");
  return kExitOk;
}

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
    const bool had_ended = job.ok() && IsEnded(job->state());
    if (job.ok() && !had_ended) job = (*client)->CancelTrainJob(cancel);
    if (!job.ok()) return Fail("jobs", job.status());
    // SUCCEEDED or FAILED after the cancel: it ended on its own meanwhile.
    if (had_ended || job->state() == v1::TrainJob::SUCCEEDED ||
        job->state() == v1::TrainJob::FAILED) {
      return Fail("jobs", absl::FailedPreconditionError(absl::StrCat(
                              cancel, " had already ended (",
                              v1::TrainJob::State_Name(job->state()), "): nothing to cancel")));
    }
    *jobs.add_jobs() = *std::move(job);
  } else if (!id.empty()) {
    absl::StatusOr<v1::TrainJob> job = (*client)->GetTrainJob(id);
    if (!job.ok()) return Fail("jobs", job.status());
    *jobs.add_jobs() = *std::move(job);
  } else {
    absl::StatusOr<v1::ListTrainJobsResponse> list = (*client)->ListTrainJobs(model);
    if (!list.ok()) return Fail("jobs", list.status());
    jobs = *std::move(list);
  }
  if (output == "json") {
    std::cout << Json(jobs) << "\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {
      {"JOB", "MODEL", "STATE", "VERSION", "EPOCHS", "LOSS", "CREATED", "ERROR"}};
  for (const v1::TrainJob& j : jobs.jobs()) {
    const v1::TrainJobProgress& p = j.progress();
    rows.push_back({j.id(), j.model_name(), v1::TrainJob::State_Name(j.state()),
                    j.version() ? absl::StrCat(j.version()) : "-",
                    absl::StrCat(p.epochs_done(), "/", p.epochs_planned()),
                    p.epochs_done() ? absl::StrFormat("%.6g", p.train_loss()) : "-",
                    Time(j.created_unix_micros()), j.error()});
  }
  PrintTable(rows, output == "csv");
  return kExitOk;
}

int RunLabel(const GlobalFlags& global, const std::vector<std::string>& args) {
  std::string model, label;
  int version = -1;
  FlagSet flags("label",
                "Points a label (e.g. stable, canary) at a served version; --version 0 removes "
                "it.\nLabelled versions stay served whatever the version policy.");
  flags.AddString("model", &model, "NAME", "the model", true);
  flags.AddString("label", &label, "LABEL", "the label", true);
  flags.AddInt("version", &version, "the version (0 removes the label)");
  if (int code = flags.ParseOrExit(args); code >= 0) return code;
  if (version < 0) {
    std::cerr << "strata label: --version is required (0 removes the label)\n";
    return kExitUsage;
  }
  auto client = Connect(global);
  if (!client.ok()) return Fail("label", client.status());
  absl::StatusOr<v1::SetLabelResponse> response = (*client)->SetLabel(model, label, version);
  if (!response.ok()) return Fail("label", response.status());
  std::cout << model << ": "
            << (Labels(response->labels()).empty() ? "(no labels)" : Labels(response->labels()))
            << "\n";
  return kExitOk;
}

}  // namespace strata::cli

namespace strata::cli {

int RunDrift(const GlobalFlags& global, const std::vector<std::string>& args) {
  ModelFlags target;
  std::string output = "table";
  int top = 0;
  FlagSet flags("drift",
                "How the records a model version saw recently move away from its training data:\n"
                "per feature PSI, mean shift (training std units), out-of-range share and drift\n"
                "(max of PSI and the out-of-range share's PSI), most drifted first; then\n"
                "reconstruction error, anomaly ratio and code drift.");
  target.Add(&flags);
  flags.AddInt("top", &top, "show only the N most drifted features (0 = all)");
  flags.AddString("output", &output, "table|csv|json", "output format");
  if (int code = flags.ParseOrExit(args); code >= 0) return code;
  absl::Status usage = CheckOutput(output);
  if (usage.ok()) usage = target.Check();
  if (!usage.ok()) {
    Fail("drift", usage);
    return kExitUsage;
  }
  auto client = Connect(global);
  if (!client.ok()) return Fail("drift", client.status());
  absl::StatusOr<v1::DriftReportResponse> report = (*client)->DriftReport(target.Spec());
  if (!report.ok()) return Fail("drift", report.status());
  v1::DriftFigures& f = *report->mutable_figures();
  if (f.window_rows() == 0) {
    // A drift score of 0 here would read as "stable"; it means nothing yet.
    std::cerr << absl::StrFormat(
        "%s version %d: no records have been seen since it was loaded: no drift to report\n",
        report->model().name(), report->model().version());
  }
  // --top applies to every format.
  if (top > 0 && f.features_size() > top) {
    f.mutable_features()->DeleteSubrange(top, f.features_size() - top);
  }
  if (output == "json") {
    std::cout << Json(*report) << "\n";
    return kExitOk;
  }
  if (f.window_rows() == 0) return kExitOk;
  std::vector<std::vector<std::string>> rows = {
      {"FEATURE", "PSI", "MEAN_SHIFT", "OUT_OF_RANGE", "DRIFT", "STATUS"}};
  for (const v1::FeatureDrift& d : f.features()) {
    rows.push_back({d.name(), absl::StrFormat("%.4f", d.psi()),
                    absl::StrFormat("%+.3f", d.mean_shift()),
                    absl::StrFormat("%.4f", d.out_of_range_ratio()),
                    absl::StrFormat("%.4f", d.drift()), DriftLevel(d.drift())});
  }
  if (output == "table") {
    std::cout << absl::StrFormat("%s version %d: %d records in the window, drift score %.4f\n\n",
                                 report->model().name(), report->model().version(), f.window_rows(),
                                 f.drift_score());
  }
  PrintTable(rows, output == "csv");
  if (output == "table") {
    std::cout << absl::StrFormat(
        "\nreconstruction MSE (%d scored records): mean %.6g (training %.6g), p95 %.6g "
        "(training %.6g), error PSI %.4f\n"
        "anomaly ratio %.4f (expected %.4f); code drift mean %.3f, max %.3f std (%d records)\n",
        f.error_rows(), f.error_mean(), f.training_error_mean(), f.error_p95(),
        f.training_error_p95(), f.error_psi(), f.anomaly_ratio(), f.expected_anomaly_ratio(),
        f.code_drift_mean(), f.code_drift_max(), f.code_rows());
  }
  return kExitOk;
}

}  // namespace strata::cli

namespace strata::cli {

int RunHealth(const GlobalFlags& global, const std::vector<std::string>& args) {
  using grpc::health::v1::HealthCheckResponse;
  std::string service;
  int timeout_s = 5;
  bool wait = false, quiet = false;
  FlagSet flags("health",
                "Asks the server's grpc.health.v1 service whether it is serving.\n"
                "Exit 0 when SERVING, 1 when not serving or unreachable: fit for container\n"
                "health checks and start-up scripts.");
  flags.AddString("service", &service, "NAME",
                  "one service, e.g. strata.v1.InferenceService (default: the whole server)");
  flags.AddInt("timeout", &timeout_s, "seconds to wait for an answer (with --wait, for SERVING)");
  flags.AddBool("wait", &wait, "check again every 200 ms until SERVING or --timeout");
  flags.AddBool("quiet", &quiet, "print nothing; the exit code tells");
  if (int code = flags.ParseOrExit(args); code >= 0) return code;
  if (timeout_s <= 0) {
    std::cerr << "strata health: --timeout must be positive\n";
    return kExitUsage;
  }
  auto client = Connect(global);
  if (!client.ok()) return Fail("health", client.status());
  const absl::Time deadline = absl::Now() + absl::Seconds(timeout_s);
  absl::StatusOr<HealthCheckResponse::ServingStatus> status;
  while (true) {
    status = (*client)->Health(service, std::max(absl::Milliseconds(100), deadline - absl::Now()));
    const bool serving = status.ok() && *status == HealthCheckResponse::SERVING;
    if (serving || !wait || absl::Now() + absl::Milliseconds(200) >= deadline) break;
    absl::SleepFor(absl::Milliseconds(200));
  }
  const std::string what = service.empty() ? global.server : service + " at " + global.server;
  if (!status.ok()) {
    if (quiet) return kExitFailure;
    // Name the server, unless the message does ("no strata-server answers
    // at HOST:PORT").
    const absl::string_view message = status.status().message();
    return Fail("health",
                absl::StrContains(message, global.server)
                    ? status.status()
                    : absl::Status(status.status().code(), absl::StrCat(what, ": ", message)));
  }
  if (!quiet) std::cout << what << ": " << HealthCheckResponse::ServingStatus_Name(*status) << "\n";
  return *status == HealthCheckResponse::SERVING ? kExitOk : kExitFailure;
}

}  // namespace strata::cli
