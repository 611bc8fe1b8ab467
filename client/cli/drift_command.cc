// strata drift: how the records a served model version saw recently move away
// from its training data, per feature and overall.
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "client/cli/cli_flags.h"
#include "client/cli/commands.h"
#include "client/cli/server_gone.h"
#include "client/strata_client.h"
#include "core/scoring/drift.h"

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
  if (!report.ok()) {
    return Fail("drift", ServerGone(ExplainUnservedVersion(report.status(), target.Spec(), "drift"),
                                    global.server, ""));
  }
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
    PrintJson(*report);
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
        "anomaly ratio %.4f%s (expected %.4f); code drift mean %.3f, max %.3f std "
        "(%d records)\n",
        f.error_rows(), f.error_mean(), f.training_error_mean(), f.error_p95(),
        f.training_error_p95(), f.error_psi(), f.anomaly_ratio(),
        f.anomaly_score().empty()  // a server from before it does not say
            ? std::string()
            : absl::StrCat(" by the ", f.anomaly_score(), " score"),
        f.expected_anomaly_ratio(), f.code_drift_mean(), f.code_drift_max(), f.code_rows());
  }
  return kExitOk;
}

}  // namespace strata::cli
