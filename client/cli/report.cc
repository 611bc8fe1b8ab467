#include "client/cli/report.h"

#include <algorithm>
#include <cmath>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "client/cli/cli_flags.h"
#include "client/cli/server_gone.h"
#include "client/cli/svg_chart.h"
#include "client/training_report.h"
#include "core/analysis/pca.h"
#include "core/analysis/tsne.h"
#include "core/base/file_util.h"
#include "core/scoring/anomaly.h"
#include "core/scoring/drift.h"
#include "core/train/sweep.h"

namespace strata::cli {
namespace {

// The page's palette (also what the report test looks for in a screenshot).
constexpr char kBlue[] = "#1f77b4";    // training loss, normal codes
constexpr char kOrange[] = "#ff7f0e";  // validation loss, moderate drift
constexpr char kRed[] = "#d62728";     // threshold, anomalous codes, drifted
constexpr char kGreen[] = "#2ca02c";   // stable features
constexpr char kBar[] = "#9ecae1";     // histogram bars

std::string Num(double v) { return absl::StrFormat("%.4g", v); }

// The score the drift monitor counts anomalies by, and the code chart
// colours by: the default, except that for the ensemble score (which needs
// every network) both use COMBINED.
ScoreMetric CodeSampleMetric(const v1::AnomalyCalibration& c) {
  const ScoreMetric metric = DefaultMetric(c);
  return metric == ScoreMetric::kEnsemble ? ScoreMetric::kCombined : metric;
}

std::string SegmentName(const v1::EpochRecord& e) {
  if (e.phase() == v1::EpochRecord::PRETRAIN) return absl::StrCat("pretrain h", e.layer());
  return e.phase() == v1::EpochRecord::SUPERVISED ? "supervised" : "fine-tune";
}

// The configured reconstruction loss, as the axes name it.
const char* LossName(const v1::TrainConfig& config) {
  return config.loss() == v1::BCE ? "BCE" : "MSE";
}

// The supervised epochs of the history, or the others, in its order.
std::vector<const v1::EpochRecord*> EpochsWhere(const v1::GetModelResponse& m, bool supervised) {
  std::vector<const v1::EpochRecord*> epochs;
  for (const v1::EpochRecord& e : m.history()) {
    if ((e.phase() == v1::EpochRecord::SUPERVISED) == supervised) epochs.push_back(&e);
  }
  return epochs;
}

// Draws `epochs`' training (solid) and validation (dashed) losses at x = 1,
// 2, ... on a log axis fitted to them, one segment per phase and layer, each
// named over it (in two staggered rows where a name is wider than its
// segment, so that neighbours' names never overlap).
void DrawLossCurves(const std::vector<const v1::EpochRecord*>& epochs, const std::string& x_label,
                    const std::string& y_label, SvgChart* chart) {
  double lo = 1e300, hi = 0;
  for (const v1::EpochRecord* e : epochs) {
    for (double v : {e->train_loss(), e->has_validation_loss() ? e->validation_loss() : 0.0}) {
      if (v > 0 && std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    }
  }
  if (hi == 0) lo = hi = 1;
  const int n = static_cast<int>(epochs.size());
  chart->SetX(0, n + 1);
  chart->SetY(lo / 1.2, hi * 1.2, /*log=*/true);
  chart->Axes(x_label, y_label);
  struct Segment {
    int begin, end;  // [begin, end) of `epochs`
    std::string name;
  };
  std::vector<Segment> segments;
  for (int i = 0; i < n; ++i) {
    const std::string name = SegmentName(*epochs[i]);
    if (segments.empty() || segments.back().name != name) segments.push_back({i, i, name});
    segments.back().end = i + 1;
  }
  bool stagger = false;
  for (const Segment& s : segments) {
    const double room = chart->X(s.end + 0.5) - chart->X(s.begin + 0.5);
    stagger = stagger || EstimatedTextWidth(s.name, SvgChart::kTextCharPx) + 8 > room;
  }
  for (size_t k = 0; k < segments.size(); ++k) {
    const Segment& s = segments[k];
    if (k > 0) chart->VLine(s.begin + 0.5, "#999", "");
    std::vector<std::pair<double, double>> train, validation;
    for (int i = s.begin; i < s.end; ++i) {
      const v1::EpochRecord& e = *epochs[i];
      if (e.train_loss() > 0) train.emplace_back(i + 1, e.train_loss());
      if (e.has_validation_loss() && e.validation_loss() > 0) {
        validation.emplace_back(i + 1, e.validation_loss());
      }
    }
    chart->Line(train, kBlue);
    chart->Line(validation, kOrange, /*dashed=*/true);
    const int row = stagger ? static_cast<int>(k % 2) : 0;
    chart->Text((s.begin + 1 + s.end) / 2.0, SvgChart::kTop + 28 + 14 * row, s.name, "middle");
  }
  chart->Legend({{"train", kBlue}, {"validation", kOrange}});
}

// The reconstruction losses of pretraining (each layer's own reconstruction
// of its input) and fine-tuning (the whole network's, in scaled units). A
// classifier's supervised phase minimises another objective, in other
// units: SupervisedChart draws it on an axis of its own.
std::string LossChart(const v1::GetModelResponse& m) {
  if (m.history().empty()) return "<p>No training history recorded.</p>";
  const std::vector<const v1::EpochRecord*> epochs = EpochsWhere(m, /*supervised=*/false);
  if (epochs.empty()) return "<p>No reconstruction epochs recorded.</p>";
  SvgChart chart("loss-chart", "Reconstruction loss per phase and layer (log scale)", 900, 320);
  DrawLossCurves(epochs, "epoch (pretraining and fine-tuning, in order)",
                 absl::StrCat("reconstruction loss (", LossName(m.config()), ")"), &chart);
  return chart.Svg();
}

// A classifier's supervised phase (SupervisedConfig): the head's
// cross-entropy on the labelled rows, plus the weighted reconstruction loss
// when the encoder trains too, per epoch; "" without one.
std::string SupervisedChart(const v1::GetModelResponse& m) {
  const std::vector<const v1::EpochRecord*> epochs = EpochsWhere(m, /*supervised=*/true);
  if (epochs.empty()) return "";
  const v1::SupervisedConfig& sc = m.config().supervised();
  const double weight = sc.has_reconstruction_weight() ? sc.reconstruction_weight() : 1.0;
  const bool weighted = sc.mode() != v1::SupervisedConfig::FROZEN_ENCODER && weight > 0;
  const std::string objective =
      weighted ? absl::StrCat("cross-entropy + ", Num(weight), " x ", LossName(m.config()))
               : std::string("cross-entropy");
  SvgChart chart("supervised-chart",
                 absl::StrCat("Classifier's supervised phase: ", objective,
                              weighted ? " reconstruction loss" : "", " (log scale)"),
                 900, 280);
  DrawLossCurves(epochs, "epoch of the supervised phase (labelled rows)", objective, &chart);
  return chart.Svg();
}

// The training rows' scores under the model's default score (`metric`),
// from the calibration's quantiles (0.1-percentile steps), as a histogram,
// with that score's threshold. A log axis where every quantile is positive
// (the long right tail of an error); a linear one otherwise (the ensemble
// score of models with a forest is in deviations around the mean training
// row, half of them negative, which a log axis would leave out).
std::string ScoreChart(const v1::GetModelResponse& m, ScoreMetric metric) {
  const v1::ScoreDistribution& d = ScoreDistributionOf(m.calibration(), metric);
  std::vector<double> q;
  for (float v : d.quantiles()) {
    if (std::isfinite(v)) q.push_back(v);
  }
  if (q.size() < 2) return "<p>No score distribution recorded.</p>";
  const bool log = q.front() > 0;
  const auto to_axis = [log](double v) { return log ? std::log10(v) : v; };
  const auto from_axis = [log](double t) { return log ? std::pow(10, t) : t; };
  // Named, not described: the description (an ensemble's runs to 250
  // characters) is in the note under the chart.
  SvgChart chart("error-chart",
                 absl::StrFormat("Anomaly score (%s) of the training rows", MetricName(metric)),
                 900, 300);
  const double lo = to_axis(q.front()),
               hi = to_axis(std::max(q.back(), static_cast<double>(d.threshold())));
  constexpr int kBins = 40;
  const double width = (hi - lo) / kBins > 0 ? (hi - lo) / kBins : 1.0;
  std::vector<double> share(kBins, 0.0);
  // Each step between neighbouring quantiles holds 1 / (steps) of the rows.
  const double steps = static_cast<double>(q.size() - 1);
  for (size_t i = 0; i + 1 < q.size(); ++i) {
    const double mid = (to_axis(q[i]) + to_axis(q[i + 1])) / 2;
    share[std::clamp(static_cast<int>((mid - lo) / width), 0, kBins - 1)] += 100.0 / steps;
  }
  chart.SetX(from_axis(lo), from_axis(lo + kBins * width), log);
  chart.SetY(0, *std::max_element(share.begin(), share.end()) * 1.15);
  chart.Axes(absl::StrFormat("%s score per row%s", MetricName(metric), log ? " (log scale)" : ""),
             "% of training rows");
  for (int b = 0; b < kBins; ++b) {
    if (share[b] <= 0) continue;
    const double x0 = from_axis(lo + b * width), x1 = from_axis(lo + (b + 1) * width);
    chart.Rect(x0, x1, 0, share[b], kBar,
               absl::StrFormat("%s - %s: %.1f%%", Num(x0), Num(x1), share[b]));
  }
  chart.VLine(d.threshold(), kRed,
              absl::StrFormat("%s threshold %s (p%s)", MetricName(metric), Num(d.threshold()),
                              Num(m.calibration().threshold_percentile())));
  return chart.Svg();
}

// Drift per feature over the live window, most drifted first (at most 25).
std::string DriftChart(const v1::DriftReportResponse& report) {
  const v1::DriftFigures& f = report.figures();
  if (f.window_rows() == 0) {
    return "<p>No records have been seen since this version was loaded: no drift to show "
           "yet.</p>";
  }
  const int n = std::min(f.features_size(), 25);
  if (n == 0) return "<p>No features.</p>";
  SvgChart chart(
      "drift-chart",
      absl::StrFormat("Live drift per feature over the last %d records", f.window_rows()), 900,
      80 + 22 * n, /*left=*/150);
  double max_drift = 0.3;
  for (int i = 0; i < n; ++i) max_drift = std::max(max_drift, f.features(i).drift() * 1.1);
  chart.SetX(0, max_drift);
  chart.SetY(0, n);
  chart.Axes("max(PSI, out-of-range PSI) (< 0.1 stable, > 0.25 drifted)", "", /*y_ticks=*/false);
  for (int i = 0; i < n; ++i) {
    const v1::FeatureDrift& d = f.features(i);
    const char* color = d.drift() > kDriftedPsi ? kRed : d.drift() > 0.1 ? kOrange : kGreen;
    const double row = n - i - 0.5;  // the most drifted at the top
    const double end = std::max(d.drift(), max_drift / 300);
    chart.Rect(0, end, row - 0.35, row + 0.35, color,
               absl::StrFormat("%s: PSI %.4f, out of range %.4f (PSI %.4f), mean shift %+.3f std",
                               d.name(), d.psi(), d.out_of_range_ratio(), d.out_of_range_psi(),
                               d.mean_shift()));
    // A name wider than the margin is cut (the bar's tooltip has it whole).
    chart.Text(0, chart.Y(row) + 4, FitText(d.name(), chart.left() - 6, SvgChart::kTextCharPx),
               "end", false, "#333", /*dx=*/-6);
    chart.Text(end, chart.Y(row) + 4, absl::StrFormat("%.3f", d.drift()), "start", false, "#333",
               /*dx=*/6);
  }
  chart.VLine(0.1, kOrange, "");
  chart.VLine(kDriftedPsi, kRed, "");
  return chart.Svg();
}

// The model's sample of training codes (rows x code width); false for a
// model trained before strata recorded one.
bool CodeSample(const v1::GetModelResponse& m, Matrix* codes) {
  const v1::CodeBaseline& c = m.drift_baseline().code();
  const int rows = c.sample_rows(), cols = c.mean_size();
  // A malformed sample is not drawn: no read past its errors, and no n x n
  // t-SNE matrices beyond what a trainer records.
  if (rows < 3 || rows > kCodeSampleRows || cols < 1 || c.sample_size() != int64_t{rows} * cols ||
      c.sample_errors_size() != rows) {
    return false;
  }
  *codes = Matrix(rows, cols);
  for (int r = 0; r < rows; ++r) {
    for (int u = 0; u < cols; ++u) (*codes)(r, u) = c.sample(r * cols + u);
  }
  return true;
}

constexpr char kNoSample[] =
    "<p>No code sample recorded: the model was trained before strata recorded one.</p>";

// Which sampled rows score above the threshold of `metric`, the score they
// were scored by: the model's default, except for the ensemble score (which
// needs every network), and the sample's own MSE where there is no code
// calibration to combine it with. One value holds both: the t-SNE chart
// once passed the metric, an out-parameter, in the call that set it, and
// read it unset (arguments are evaluated in an unspecified order): "above
// the mse threshold" beside the PCA chart's "combined" on the same rows.
struct SampleScores {
  std::vector<bool> above;
  ScoreMetric metric;
};
SampleScores SampleAnomalies(const v1::GetModelResponse& m, const Matrix& codes) {
  const v1::CodeBaseline& c = m.drift_baseline().code();
  SampleScores out;
  out.metric = CodeSampleMetric(m.calibration());
  Eigen::VectorXf scores =
      Eigen::Map<const Eigen::VectorXf>(c.sample_errors().data(), c.sample_errors_size());
  if (out.metric == ScoreMetric::kCombined) {
    if (m.calibration().code().mean_size() == codes.cols()) {
      scores = CombinedScores(m.calibration(), scores, codes);
    } else {
      out.metric = ScoreMetric::kMeanSquared;
    }
  }
  const float threshold = ScoreDistributionOf(m.calibration(), out.metric).threshold();
  out.above.resize(static_cast<size_t>(codes.rows()));
  for (Eigen::Index r = 0; r < codes.rows(); ++r) out.above[r] = scores(r) > threshold;
  return out;
}

// Sets the chart's axes to the points' range, padded by 5%.
void FitAxes(SvgChart* chart, const Matrix& xy) {
  for (int c = 0; c < xy.cols(); ++c) {
    const double lo = xy.col(c).minCoeff(), hi = xy.col(c).maxCoeff();
    const double pad = 0.05 * std::max(1e-6, hi - lo);
    if (c == 0) chart->SetX(lo - pad, hi + pad);
    if (c == 1) chart->SetY(lo - pad, hi + pad);
  }
  if (xy.cols() < 2) chart->SetY(-1, 1);
}

// Dots coloured normal or anomalous (drawn last, on top), with the legend
// naming the metric they were scored by.
void DrawAnomalies(SvgChart* chart, const Matrix& xy, const SampleScores& scores) {
  const std::vector<bool>& above = scores.above;
  int anomalies = 0;
  for (int pass = 0; pass < 2; ++pass) {
    for (Eigen::Index r = 0; r < xy.rows(); ++r) {
      if (above[r] != (pass == 1)) continue;
      anomalies += above[r];
      chart->Dot(xy(r, 0), xy.cols() > 1 ? xy(r, 1) : 0.0, above[r] ? kRed : kBlue);
    }
  }
  chart->Legend(
      {{"normal", kBlue},
       {absl::StrFormat("above the %s threshold (%d)", MetricName(scores.metric), anomalies),
        kRed}});
}

// The sample of training codes on their first two principal components,
// rows above the threshold in red.
std::string CodeChart(const v1::GetModelResponse& m) {
  Matrix codes;
  if (!CodeSample(m, &codes)) return kNoSample;
  const int rows = static_cast<int>(codes.rows()), cols = static_cast<int>(codes.cols());
  const int k = std::min(2, cols);
  absl::StatusOr<Pca> pca = FitPca(codes, k);
  if (!pca.ok()) {
    return absl::StrCat("<p>", HtmlEscape(std::string(pca.status().message())), "</p>");
  }
  const Matrix xy = pca->Project(codes);
  auto share = [&](int i) {
    return pca->total_variance > 0 ? 100.0 * pca->variance(i) / pca->total_variance : 0.0;
  };
  SvgChart chart("code-chart",
                 absl::StrFormat("Codes of %d training rows: first two principal components", rows),
                 900, 440);
  FitAxes(&chart, xy);
  chart.Axes(absl::StrFormat("PC1 (%.0f%% of code variance)", share(0)),
             k == 2 ? absl::StrFormat("PC2 (%.0f%%)", share(1)) : "(one code unit)");
  DrawAnomalies(&chart, xy, SampleAnomalies(m, codes));
  return chart.Svg();
}

// Ten distinguishable colours (matplotlib's tab10), for classes.
constexpr const char* kClassColors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                        "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"};
constexpr char kUnlabelledColor[] = "#c7c7c7";

// The same sample on a t-SNE map, coloured by each row's class label when
// the model was trained with labels, else as the PCA view, with the map's
// trustworthiness.
std::string TsneChart(const v1::GetModelResponse& m) {
  Matrix codes;
  if (!CodeSample(m, &codes)) return kNoSample;
  const TsneOptions options;
  absl::StatusOr<TsneResult> map = Tsne(codes, options);
  if (!map.ok()) {
    return absl::StrCat("<p>", HtmlEscape(std::string(map.status().message())), "</p>");
  }
  const int rows = static_cast<int>(codes.rows());
  constexpr int kNeighbours = 10;
  const absl::StatusOr<double> trust = Trustworthiness(codes, map->embedding, kNeighbours);
  SvgChart chart("tsne-chart", absl::StrFormat("Codes of %d training rows: t-SNE map", rows), 900,
                 440);
  FitAxes(&chart, map->embedding);
  chart.Axes("t-SNE 1", "t-SNE 2");
  const v1::CodeBaseline& c = m.drift_baseline().code();
  const int classes = m.class_names_size();
  const bool by_class = classes > 0 && c.sample_classes_size() == rows;
  if (by_class) {
    // Classes beyond the palette share its last colour, as "other".
    constexpr int kColors = sizeof(kClassColors) / sizeof(kClassColors[0]);
    const auto color_of = [&](int k) {
      if (k < 0 || k >= classes) return static_cast<const char*>(kUnlabelledColor);
      return kClassColors[std::min(k, kColors - 1)];
    };
    for (int r = 0; r < rows; ++r) {  // unlabelled first, under the rest
      if (color_of(c.sample_classes(r)) == kUnlabelledColor) {
        chart.Dot(map->embedding(r, 0), map->embedding(r, 1), kUnlabelledColor);
      }
    }
    int unlabelled = 0;
    for (int r = 0; r < rows; ++r) {
      const char* color = color_of(c.sample_classes(r));
      if (color == kUnlabelledColor) {
        ++unlabelled;
      } else {
        chart.Dot(map->embedding(r, 0), map->embedding(r, 1), color);
      }
    }
    std::vector<std::pair<std::string, const char*>> legend;
    for (int k = 0; k < std::min(classes, kColors); ++k) {
      legend.emplace_back(k == kColors - 1 && classes > kColors ? "other" : m.class_names(k),
                          kClassColors[k]);
    }
    if (unlabelled > 0) legend.emplace_back("unlabelled", kUnlabelledColor);
    chart.Legend(legend);
  } else {
    DrawAnomalies(&chart, map->embedding, SampleAnomalies(m, codes));
  }
  std::string note = absl::StrFormat(
      "Exact t-SNE of the sampled training codes (perplexity %.3g, %d iterations, started on "
      "their first two principal components, KL divergence %.3f). ",
      map->perplexity, options.iterations, map->kl_divergence);
  if (trust.ok()) {
    absl::StrAppendFormat(&note,
                          "Trustworthiness %.3f at k = %d: 1 when every point's %d nearest "
                          "neighbours on the map are among its nearest in the code space, about "
                          "0.5 for a random map. ",
                          *trust, kNeighbours, kNeighbours);
  }
  absl::StrAppend(&note,
                  by_class ? "Coloured by each row's class label."
                           : "Coloured as the PCA view, by the anomaly threshold.",
                  " Distances between clusters on a t-SNE map mean little; neighbourhoods do.");
  return absl::StrCat(chart.Svg(), "<p class='note'>", HtmlEscape(note), "</p>");
}

// A sweep's trials, one row each, the best in bold: what the published
// version was chosen from.
std::string SweepTable(const v1::SweepSummary& sweep) {
  const auto figure = [](bool has, double v) { return has ? Num(v) : std::string("-"); };
  std::string html = absl::StrFormat(
      "<p>%d trials scored on %s (%s wins); this version is trial %d's model.</p>\n"
      "<table id='sweep-table'><tr><th>trial</th><th>state</th><th>objective</th>"
      "<th>validation loss</th><th>probe accuracy</th><th>head accuracy</th><th>epochs</th>"
      "<th>seconds</th><th>settings</th></tr>\n",
      sweep.trials_size(), v1::SweepObjective_Name(sweep.objective()),
      sweep.objective() == v1::VALIDATION_LOSS ? "lowest" : "highest", sweep.best_trial());
  for (const v1::SweepTrial& t : sweep.trials()) {
    const bool best = t.trial() == sweep.best_trial();
    const bool ok = t.state() == v1::SweepTrial::SUCCEEDED;
    absl::StrAppend(
        &html, best ? "<tr style='font-weight:bold'>" : "<tr>", "<td>", t.trial(),
        best ? " (best)" : "", "</td><td>", v1::SweepTrial::State_Name(t.state()), "</td><td>",
        figure(t.has_objective(), t.objective()), "</td><td>",
        figure(t.has_validation_loss(), t.validation_loss()), "</td><td>",
        figure(t.has_probe_accuracy(), t.probe_accuracy()), "</td><td>",
        figure(t.has_head_accuracy(), t.head_accuracy()), "</td><td>",
        ok ? absl::StrCat(t.epochs()) : "-", "</td><td>", ok ? Num(t.seconds()) : "-", "</td><td>",
        HtmlEscape(FormatSweepSettings(t)),
        t.error().empty() ? "" : absl::StrCat("<br><small>", HtmlEscape(t.error()), "</small>"),
        "</td></tr>\n");
  }
  return html + "</table>\n";
}

std::string Row(const std::string& name, const std::string& value) {
  return absl::StrCat("<tr><th>", HtmlEscape(name), "</th><td>", HtmlEscape(value), "</td></tr>\n");
}

}  // namespace

std::string RenderReport(const v1::GetModelResponse& m, const v1::DriftReportResponse& drift) {
  const std::string title =
      absl::StrCat("strata report: ", m.model().name(), " version ", m.model().version());
  const v1::TrainingSummary& s = m.summary();
  const v1::DriftFigures& f = drift.figures();
  const ScoreMetric metric = DefaultMetric(m.calibration());
  std::string labels = absl::StrJoin(m.labels(), ", ");
  std::string html = absl::StrCat(
      "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>", HtmlEscape(title),
      "</title>\n<style>body{font-family:sans-serif;margin:24px;color:#222;max-width:960px}"
      "svg{max-width:100%;height:auto}"
      "table{border-collapse:collapse;margin-bottom:16px}th,td{text-align:left;padding:3px 12px "
      "3px 0;font-size:14px}th{color:#555;font-weight:normal}section{margin:18px 0}"
      "h1{font-size:22px}h2{font-size:17px;margin-bottom:4px}p.note{color:#555;font-size:13px;"
      "margin-top:2px}</style></head>\n<body>\n<h1>",
      HtmlEscape(title), "</h1>\n<table>\n");
  absl::StrAppend(
      &html, Row("architecture", FormatArchitecture(m.architecture())),
      Row("labels", labels.empty() ? "-" : labels),
      Row("created", m.created_unix_micros() == 0
                         ? "-"
                         : absl::FormatTime("%Y-%m-%d %H:%M:%S UTC",
                                            absl::FromUnixMicros(m.created_unix_micros()),
                                            absl::UTCTimeZone())),
      Row("training",
          absl::StrFormat("%d rows (+%d validation), %s", s.train_rows(), s.validation_rows(),
                          FormatEpochsAndSeconds(s, m.config().anomaly().ensemble_size()))),
      Row("final reconstruction loss",
          absl::StrCat("train ", Num(s.final_train_loss()),
                       s.has_final_validation_loss()
                           ? absl::StrCat(", validation ", Num(s.final_validation_loss()))
                           : "",
                       " (", v1::Loss_Name(m.config().loss()), ")")),
      Row("classifier",
          m.class_names_size() == 0
              ? std::string("-")
              : absl::StrCat(
                    m.class_names_size(), " classes (", absl::StrJoin(m.class_names(), ", "), ")",
                    s.classifier().has_validation_accuracy()
                        ? absl::StrCat("; validation accuracy ",
                                       Num(s.classifier().validation_accuracy()), " on ",
                                       s.classifier().validation_labelled_rows(),
                                       " labelled rows (the published weights: the epoch early "
                                       "stopping kept)")
                        : "")),
      Row("anomaly score",
          absl::StrFormat("%s (the default score), threshold %s (training p%s)",
                          MetricDescription(metric),
                          Num(ScoreDistributionOf(m.calibration(), metric).threshold()),
                          Num(m.calibration().threshold_percentile()))),
      Row("live window",
          f.window_rows() == 0
              ? std::string("no records seen since this version was loaded")
              : absl::StrFormat("%d records, drift score %.4f, anomaly ratio %.4f by the %s "
                                "score (expected %.4f)",
                                f.window_rows(), f.drift_score(), f.anomaly_ratio(),
                                f.anomaly_score().empty()  // a server from before it
                                    ? MetricName(CodeSampleMetric(m.calibration()))
                                    : f.anomaly_score(),
                                f.expected_anomaly_ratio())),
      "</table>\n");
  const std::string supervised = SupervisedChart(m);
  absl::StrAppend(&html, "<section><h2>Training</h2>", LossChart(m),
                  "<p class='note'>The served network's epochs. Pretraining losses are each "
                  "layer's own reconstruction of its input; fine-tuning is the whole network's, "
                  "in scaled units.</p>\n",
                  supervised,
                  supervised.empty()
                      ? ""
                      : "<p class='note'>The classifier head's supervised phase, on the labelled "
                        "rows: its objective is the head's cross-entropy (plus the weighted "
                        "reconstruction loss when the encoder trains too), in other units than "
                        "the reconstruction loss, so it has an axis of its own.</p>\n",
                  "</section>\n");
  absl::StrAppend(&html, "<section><h2>Anomaly score</h2>", ScoreChart(m, metric),
                  "<p class='note'>", HtmlEscape(MetricDescription(metric)),
                  ". Rows scoring above the red line are reported as anomalies "
                  "(AnomalyScore's default score, as <code>strata score</code> and "
                  "<code>strata eval</code> use it).</p></section>\n");
  absl::StrAppend(&html, "<section><h2>Drift</h2>", DriftChart(drift), "</section>\n");
  absl::StrAppend(&html, "<section><h2>Code space</h2>", CodeChart(m), TsneChart(m),
                  "</section>\n");
  if (s.sweep().trials_size() > 0) {
    absl::StrAppend(&html, "<section><h2>Sweep</h2>", SweepTable(s.sweep()), "</section>\n");
  }
  absl::StrAppend(&html, "</body></html>\n");
  return html;
}

int RunReport(const GlobalFlags& global, const std::vector<std::string>& args) {
  ModelFlags target;
  std::string out;
  FlagSet flags("report",
                "Writes one self-contained HTML page about a served model version: training\n"
                "curves, the reconstruction-error distribution with its threshold, live drift\n"
                "per feature, 2-D views of training codes (principal components and a t-SNE\n"
                "map) and, for a sweep's version, its trials.");
  target.Add(&flags);
  flags.AddString("out", &out, "FILE.html", "where to write the page", true);
  if (int code = flags.ParseOrExit(args); code >= 0) return code;
  if (absl::Status s = target.Check(); !s.ok()) {
    Fail("report", s);
    return kExitUsage;
  }
  auto client = Connect(global);
  if (!client.ok()) return Fail("report", client.status());
  v1::ModelSpec spec = target.Spec();
  absl::StatusOr<v1::GetModelResponse> info = (*client)->GetModel(spec);
  if (!info.ok()) {
    return Fail("report", ServerGone(ExplainUnservedVersion(info.status(), spec, "report"),
                                     global.server, ""));
  }
  // The drift of exactly the version described, even if a newer one lands.
  spec.set_version(info->model().version());
  absl::StatusOr<v1::DriftReportResponse> drift = (*client)->DriftReport(spec);
  if (!drift.ok()) return Fail("report", ServerGone(drift.status(), global.server, ""));
  const std::string html = RenderReport(*info, *drift);
  if (absl::Status s = WriteFileAtomically(out, html); !s.ok()) return Fail("report", s);
  std::cout << absl::StrFormat("wrote %s (%d KB): %s version %d\n", out, html.size() / 1024,
                               info->model().name(), info->model().version());
  return kExitOk;
}

}  // namespace strata::cli
