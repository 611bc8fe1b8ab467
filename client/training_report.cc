#include "client/training_report.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "core/nn/activation.h"
#include "core/train/sweep.h"

namespace strata::cli {
namespace {

std::string PhaseName(const v1::EpochRecord& e) {
  if (e.phase() == v1::EpochRecord::PRETRAIN) return absl::StrCat("pretrain L", e.layer());
  return e.phase() == v1::EpochRecord::SUPERVISED ? "supervised" : "finetune";
}

std::string Duration(double seconds) {
  if (seconds < 60) return absl::StrFormat("%.0fs", seconds);
  if (seconds < 3600)
    return absl::StrFormat("%dm%02ds", static_cast<int>(seconds) / 60,
                           static_cast<int>(seconds) % 60);
  return absl::StrFormat("%dh%02dm", static_cast<int>(seconds) / 3600,
                         (static_cast<int>(seconds) % 3600) / 60);
}

std::string CreatedTime(int64_t unix_micros) {
  if (unix_micros == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixMicros(unix_micros),
                          absl::LocalTimeZone());
}

// A job's LOSS cell: see FormatJobsTable.
std::string JobLoss(const v1::TrainJob& j) {
  if (j.state() == v1::TrainJob::SUCCEEDED && j.has_summary()) {
    return absl::StrFormat("%.6g final reconstruction", j.summary().final_train_loss());
  }
  const v1::TrainJobProgress& p = j.progress();
  if (p.epochs_done() == 0) return "-";
  v1::EpochRecord e;
  e.set_phase(p.phase());
  e.set_layer(p.layer());
  // Without commas: PrintTable writes CSV unquoted. Another network's
  // epoch is not the served network's loss: it says whose it is.
  if (p.network() > 1) {
    return absl::StrFormat("%.6g %s (last epoch of network %d of %d)", p.train_loss(),
                           EpochLossName(e), p.network(), p.networks());
  }
  return absl::StrFormat("%.6g %s (last epoch)", p.train_loss(), EpochLossName(e));
}

}  // namespace

std::string FormatProgress(const TrainProgress& p) {
  const v1::EpochRecord& e = p.record;
  constexpr int kBar = 20;
  // In 64 bits (20 x a plan past 107 million epochs overflowed int), and
  // within the bar whatever the counts say.
  const int filled = p.epochs_planned > 0
                         ? static_cast<int>(std::clamp<int64_t>(
                               int64_t{kBar} * p.epochs_done / p.epochs_planned, 0, kBar))
                         : 0;
  std::string line =
      absl::StrFormat("[%s%s] %d/%d ", std::string(filled, '#'), std::string(kBar - filled, '.'),
                      p.epochs_done, p.epochs_planned);
  if (p.networks > 1) absl::StrAppendFormat(&line, "network %d of %d ", p.network, p.networks);
  absl::StrAppendFormat(&line, "%-11s epoch %-4d loss %.6g", PhaseName(e), e.epoch(),
                        e.train_loss());
  if (e.has_validation_loss()) absl::StrAppendFormat(&line, "  val %.6g", e.validation_loss());
  if (e.has_validation_accuracy()) {
    absl::StrAppendFormat(&line, "  val_acc %.3f", e.validation_accuracy());
  }
  absl::StrAppendFormat(&line, "  lr %.2g  ETA %s", e.learning_rate(), Duration(p.eta_seconds));
  return line;
}

std::string EpochLossName(const v1::EpochRecord& e) {
  switch (e.phase()) {
    case v1::EpochRecord::PRETRAIN:
      return absl::StrCat("layer ", e.layer(), " reconstruction");
    case v1::EpochRecord::SUPERVISED:
      return "supervised objective";
    default:
      return "reconstruction";
  }
}

std::string FormatEpochsAndSeconds(const v1::TrainingSummary& summary, int networks) {
  return absl::StrFormat("%d epochs%s in %.2fs", summary.epochs(),
                         networks > 1 ? absl::StrCat(" (", networks, " networks)") : "",
                         summary.seconds());
}

std::string FormatClassifierSummary(const v1::ClassifierSummary& c, int classes) {
  std::string out =
      absl::StrFormat("classifier: %d classes, accuracy %.4f on %d labelled training rows", classes,
                      c.train_accuracy(), c.train_labelled_rows());
  if (c.has_validation_accuracy()) {
    absl::StrAppendFormat(&out,
                          ", validation accuracy %.4f on %d labelled rows (the published "
                          "weights: the epoch early stopping kept)",
                          c.validation_accuracy(), c.validation_labelled_rows());
  }
  return out;
}

std::vector<std::vector<std::string>> FormatJobsTable(
    const google::protobuf::RepeatedPtrField<v1::TrainJob>& jobs) {
  std::vector<std::vector<std::string>> rows = {
      {"JOB", "MODEL", "STATE", "VERSION", "EPOCHS", "LOSS", "CREATED", "ERROR"}};
  for (const v1::TrainJob& j : jobs) {
    const v1::TrainJobProgress& p = j.progress();
    rows.push_back({j.id(), j.model_name(), v1::TrainJob::State_Name(j.state()),
                    j.version() ? absl::StrCat(j.version()) : "-",
                    absl::StrCat(p.epochs_done(), "/", p.epochs_planned()), JobLoss(j),
                    CreatedTime(j.created_unix_micros()), j.error()});
  }
  return rows;
}

std::string FormatCurve(const std::vector<v1::EpochRecord>& history, int max_rows) {
  if (history.empty()) return "(no epochs)\n";
  // Keep each phase's first and last epoch, and every stride-th in between.
  const size_t stride = std::max<size_t>(1, history.size() / static_cast<size_t>(max_rows));
  std::vector<size_t> rows;
  for (size_t i = 0; i < history.size(); ++i) {
    const bool first = i == 0 || PhaseName(history[i]) != PhaseName(history[i - 1]);
    const bool last = i + 1 == history.size() || PhaseName(history[i]) != PhaseName(history[i + 1]);
    if (first || last || (history[i].epoch() % stride == 0)) rows.push_back(i);
  }
  double lo = 1e300, hi = -1e300;
  for (const auto& e : history) {
    for (double v :
         {e.train_loss(), e.has_validation_loss() ? e.validation_loss() : e.train_loss()}) {
      if (v > 0) lo = std::min(lo, v), hi = std::max(hi, v);
    }
  }
  const double span = hi > lo ? std::log(hi) - std::log(lo) : 1.0;
  constexpr int kWidth = 30;
  std::string out = absl::StrFormat("%-11s %6s %12s %12s %9s  %s\n", "phase", "epoch", "train_loss",
                                    "val_loss", "lr", "val (log scale; train if none)");
  for (size_t i : rows) {
    const v1::EpochRecord& e = history[i];
    const double shown = e.has_validation_loss() ? e.validation_loss() : e.train_loss();
    const int bar =
        shown > 0 ? 1 + static_cast<int>((kWidth - 1) * (std::log(shown) - std::log(lo)) / span)
                  : 0;
    absl::StrAppendFormat(
        &out, "%-11s %6d %12.6g %12s %9.2g  %s\n", PhaseName(e), e.epoch(), e.train_loss(),
        e.has_validation_loss() ? absl::StrFormat("%.6g", e.validation_loss()) : "-",
        e.learning_rate(), std::string(static_cast<size_t>(bar), '#'));
  }
  return out;
}

std::string FormatArchitecture(const v1::Architecture& arch) {
  std::vector<std::string> parts = {absl::StrCat(arch.input_dim())};
  const int k = arch.encoder_widths_size();
  for (int i = 0; i < k; ++i) {
    parts.push_back(absl::StrCat(arch.encoder_widths(i), " (",
                                 ActivationName(arch.encoder_activations(i)),
                                 i == k - 1 ? ", code)" : ")"));
  }
  for (int i = k - 2; i >= 0; --i) {
    parts.push_back(absl::StrCat(arch.encoder_widths(i), " (",
                                 ActivationName(arch.encoder_activations(i)), ")"));
  }
  parts.push_back(
      absl::StrCat(arch.input_dim(), " (", ActivationName(arch.output_activation()), ")"));
  return absl::StrCat(absl::StrJoin(parts, " -> "), arch.tied_weights() ? ", tied weights" : "");
}

std::string FormatReconstructionError(const Model& model, const Matrix& data) {
  absl::StatusOr<Matrix> errors = model.FeatureErrors(data, ScoreMetric::kMeanSquared);
  if (!errors.ok()) return absl::StrCat("(cannot compute: ", errors.status().message(), ")\n");
  std::vector<float> per_row(static_cast<size_t>(errors->rows()));
  for (Eigen::Index r = 0; r < errors->rows(); ++r) per_row[r] = errors->row(r).mean();
  const double mean = std::accumulate(per_row.begin(), per_row.end(), 0.0) / per_row.size();
  std::sort(per_row.begin(), per_row.end());
  std::string out = absl::StrFormat(
      "reconstruction MSE per row (scaled units, %d rows): mean %.6g  p50 %.6g  p95 %.6g  max "
      "%.6g\n",
      static_cast<int>(per_row.size()), mean, Percentile(per_row, 50), Percentile(per_row, 95),
      per_row.back());
  const RowVector per_feature = errors->colwise().mean();
  std::vector<int> order(static_cast<size_t>(per_feature.cols()));
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](int a, int b) { return per_feature(a) > per_feature(b); });
  order.resize(std::min<size_t>(order.size(), 8));
  std::vector<std::string> worst;
  for (int f : order)
    worst.push_back(absl::StrFormat("%s %.4g", model.info().feature_names[f], per_feature(f)));
  absl::StrAppend(&out, "worst-reconstructed features (MSE): ", absl::StrJoin(worst, ", "), "\n");
  return out;
}

std::string FormatSweepTable(const v1::SweepSummary& sweep) {
  const auto figure = [](bool has, double value) {
    return has ? absl::StrFormat("%.6g", value) : std::string("-");
  };
  std::string out = absl::StrFormat(
      "objective %s (%s wins)\n%-6s %-10s %10s %10s %7s %7s %6s %8s  %s\n",
      v1::SweepObjective_Name(sweep.objective()),
      sweep.objective() == v1::VALIDATION_LOSS ? "lowest" : "highest", "trial", "state",
      "objective", "val_loss", "probe", "head", "epochs", "seconds", "settings");
  std::string errors;
  for (const v1::SweepTrial& t : sweep.trials()) {
    const bool ended = t.state() == v1::SweepTrial::SUCCEEDED;
    absl::StrAppendFormat(
        &out, "%-6s %-10s %10s %10s %7s %7s %6s %8s  %s\n",
        absl::StrCat(t.trial(), t.trial() == sweep.best_trial() ? " *" : ""),
        v1::SweepTrial::State_Name(t.state()), figure(t.has_objective(), t.objective()),
        figure(t.has_validation_loss(), t.validation_loss()),
        figure(t.has_probe_accuracy(), t.probe_accuracy()),
        figure(t.has_head_accuracy(), t.head_accuracy()), ended ? absl::StrCat(t.epochs()) : "-",
        ended ? absl::StrFormat("%.2f", t.seconds()) : "-", FormatSweepSettings(t));
    if (t.state() == v1::SweepTrial::FAILED) {
      absl::StrAppend(&errors, "trial ", t.trial(), " failed: ", t.error(), "\n");
    }
  }
  return out + errors;
}

}  // namespace strata::cli
