#include "client/report.h"

#include <algorithm>
#include <cmath>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "client/cli_flags.h"
#include "client/server_gone.h"
#include "client/training_report.h"
#include "core/anomaly.h"
#include "core/drift.h"
#include "core/file_util.h"
#include "core/pca.h"
#include "core/sweep.h"
#include "core/tsne.h"

namespace strata::cli {
namespace {

// The page's palette (also what the report test looks for in a screenshot).
constexpr char kBlue[] = "#1f77b4";    // training loss, normal codes
constexpr char kOrange[] = "#ff7f0e";  // validation loss, moderate drift
constexpr char kRed[] = "#d62728";     // threshold, anomalous codes, drifted
constexpr char kGreen[] = "#2ca02c";   // stable features
constexpr char kBar[] = "#9ecae1";     // histogram bars

std::string Escape(const std::string& s) {
  return absl::StrReplaceAll(
      s, {{"&", "&amp;"}, {"<", "&lt;"}, {">", "&gt;"}, {"\"", "&quot;"}, {"'", "&#39;"}});
}

std::string Num(double v) { return absl::StrFormat("%.4g", v); }

// The score the drift monitor counts anomalies by, and the code chart
// colours by: the default, except that for the ensemble score (which needs
// every network) both use COMBINED.
ScoreMetric CodeSampleMetric(const v1::AnomalyCalibration& c) {
  const ScoreMetric metric = DefaultMetric(c);
  return metric == ScoreMetric::kEnsemble ? ScoreMetric::kCombined : metric;
}

// One SVG chart: a plot area with linear or log axes, and marks in data
// coordinates.
class Chart {
 public:
  static constexpr int kRight = 24, kTop = 34, kBottom = 46;

  // `left`: the margin for the y axis' labels.
  Chart(std::string id, std::string title, int width, int height, int left = 64)
      : id_(std::move(id)), title_(std::move(title)), width_(width), height_(height), left_(left) {}

  void SetX(double lo, double hi, bool log = false) { SetAxis(&x_, lo, hi, log); }
  void SetY(double lo, double hi, bool log = false) { SetAxis(&y_, lo, hi, log); }
  double X(double v) const { return left_ + Fraction(x_, v) * (width_ - left_ - kRight); }
  double Y(double v) const {
    return height_ - kBottom - Fraction(y_, v) * (height_ - kTop - kBottom);
  }

  void Axes(const std::string& x_label, const std::string& y_label, bool y_ticks = true) {
    const double x0 = left_, x1 = width_ - kRight, y0 = height_ - kBottom, y1 = kTop;
    absl::StrAppendFormat(&body_,
                          "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='none' "
                          "stroke='#bbb'/>\n",
                          x0, y1, x1 - x0, y0 - y1);
    for (double t : Ticks(x_)) {
      absl::StrAppendFormat(&body_,
                            "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#bbb'/>"
                            "<text x='%.1f' y='%.1f' text-anchor='middle'>%s</text>\n",
                            X(t), y0, X(t), y0 + 4, X(t), y0 + 16, Num(t));
    }
    for (double t : y_ticks ? Ticks(y_) : std::vector<double>{}) {
      absl::StrAppendFormat(&body_,
                            "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#eee'/>"
                            "<text x='%.1f' y='%.1f' text-anchor='end'>%s</text>\n",
                            x0, Y(t), x1, Y(t), x0 - 4, Y(t) + 4, Num(t));
    }
    absl::StrAppendFormat(&body_, "<text x='%.1f' y='%d' text-anchor='middle'>%s</text>\n",
                          (x0 + x1) / 2, height_ - 8, Escape(x_label));
    absl::StrAppendFormat(&body_,
                          "<text transform='translate(14,%.1f) rotate(-90)' "
                          "text-anchor='middle'>%s</text>\n",
                          (y0 + y1) / 2, Escape(y_label));
  }

  void Line(const std::vector<std::pair<double, double>>& points, const char* color,
            bool dashed = false) {
    if (points.empty()) return;
    std::string d;
    for (const auto& [x, y] : points) absl::StrAppendFormat(&d, "%.1f,%.1f ", X(x), Y(y));
    absl::StrAppendFormat(&body_,
                          "<polyline points='%s' fill='none' stroke='%s' stroke-width='2.5'%s/>\n",
                          d, color, dashed ? " stroke-dasharray='6 4'" : "");
  }
  // A vertical line at data x, its label to the right of it, or to the left
  // where the label would run past the plot's right edge.
  void VLine(double x, const char* color, const std::string& label) {
    // 12 px sans-serif: about 7 px a character.
    const bool fits_right = X(x) + 4 + 7.0 * static_cast<double>(label.size()) <= width_ - kRight;
    absl::StrAppendFormat(&body_,
                          "<line x1='%.1f' y1='%d' x2='%.1f' y2='%d' stroke='%s' "
                          "stroke-width='3'/><text x='%.1f' y='%d' fill='%s' "
                          "text-anchor='%s'>%s</text>\n",
                          X(x), kTop, X(x), height_ - kBottom, color,
                          fits_right ? X(x) + 4 : X(x) - 4, kTop + 14, color,
                          fits_right ? "start" : "end", Escape(label));
  }
  void Rect(double x0, double x1, double y0, double y1, const char* color,
            const std::string& tooltip) {
    const double left = std::min(X(x0), X(x1)), top = std::min(Y(y0), Y(y1));
    absl::StrAppendFormat(&body_,
                          "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='%s'>"
                          "<title>%s</title></rect>\n",
                          left, top, std::abs(X(x1) - X(x0)), std::abs(Y(y1) - Y(y0)), color,
                          Escape(tooltip));
  }
  void Dot(double x, double y, const char* color) {
    absl::StrAppendFormat(&body_, "<circle cx='%.1f' cy='%.1f' r='3.5' fill='%s'/>\n", X(x), Y(y),
                          color);
  }
  // Text at data x moved by dx pixels, pixel y (or data y when data_y).
  // SVG collapses leading and trailing spaces, so gaps are dx, not spaces.
  void Text(double x, double y, const std::string& text, const char* anchor = "start",
            bool data_y = false, const char* color = "#333", double dx = 0) {
    absl::StrAppendFormat(&body_, "<text x='%.1f' y='%.1f' text-anchor='%s' fill='%s'>%s</text>\n",
                          X(x) + dx, data_y ? Y(y) : y, anchor, color, Escape(text));
  }
  void Legend(const std::vector<std::pair<std::string, const char*>>& entries) {
    double x = width_ - kRight - 8;
    for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
      x -= 8.0 * static_cast<double>(it->first.size()) + 30;
      absl::StrAppendFormat(&body_,
                            "<rect x='%.1f' y='12' width='14' height='10' fill='%s'/>"
                            "<text x='%.1f' y='21'>%s</text>\n",
                            x, it->second, x + 18, Escape(it->first));
    }
  }

  std::string Svg() const {
    return absl::StrFormat(
        "<svg id='%s' xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' "
        "viewBox='0 0 %d %d' font-family='sans-serif' font-size='12'>\n"
        "<text x='%d' y='20' font-size='14' font-weight='bold'>%s</text>\n%s</svg>\n",
        id_, width_, height_, width_, height_, left_, Escape(title_), body_);
  }

 private:
  struct Axis {
    double lo = 0, hi = 1;
    bool log = false;
  };
  static void SetAxis(Axis* a, double lo, double hi, bool log) {
    if (log) {
      lo = std::log10(std::max(lo, 1e-30));
      hi = std::log10(std::max(hi, 1e-30));
    }
    if (!(hi > lo)) hi = lo + 1;  // also catches NaN
    *a = {lo, hi, log};
  }
  static double Fraction(const Axis& a, double v) {
    const double t = a.log ? std::log10(std::max(v, 1e-30)) : v;
    return std::clamp((t - a.lo) / (a.hi - a.lo), -0.02, 1.02);
  }
  // About five round ticks: 1-2-5 steps, or powers of ten on a log axis.
  static std::vector<double> Ticks(const Axis& a) {
    std::vector<double> ticks;
    if (a.log) {
      for (double e = std::ceil(a.lo); e <= a.hi + 1e-9; e += 1) ticks.push_back(std::pow(10, e));
      if (ticks.size() >= 2) return ticks;
      ticks.clear();
      for (double e = std::floor(a.lo); e <= a.hi; e += 1) {
        for (double m : {1.0, 2.0, 5.0}) {
          const double t = std::log10(m) + e;
          if (t >= a.lo - 1e-9 && t <= a.hi + 1e-9) ticks.push_back(std::pow(10, t));
        }
      }
      return ticks;
    }
    const double raw = (a.hi - a.lo) / 5;
    const double mag = std::pow(10, std::floor(std::log10(raw)));
    double step = mag;
    for (double m : {1.0, 2.0, 5.0, 10.0}) {
      if (m * mag >= raw) {
        step = m * mag;
        break;
      }
    }
    for (double t = std::ceil(a.lo / step) * step; t <= a.hi + 1e-9 * step; t += step) {
      ticks.push_back(std::abs(t) < 1e-12 * step ? 0.0 : t);
    }
    return ticks;
  }

  const std::string id_, title_;
  const int width_, height_, left_;
  Axis x_, y_;
  std::string body_;
};

std::string SegmentName(const v1::EpochRecord& e) {
  if (e.phase() == v1::EpochRecord::PRETRAIN) return absl::StrCat("pretrain h", e.layer());
  return e.phase() == v1::EpochRecord::SUPERVISED ? "supervised" : "fine-tune";
}

// Training and validation loss over all epochs, one segment per phase and
// layer (pretraining losses are each layer's own reconstruction).
std::string LossChart(const v1::GetModelResponse& m) {
  Chart chart("loss-chart", "Training loss per phase and layer (log scale)", 900, 320);
  const auto& history = m.history();
  if (history.empty()) return "<p>No training history recorded.</p>";
  double lo = 1e300, hi = 0;
  for (const v1::EpochRecord& e : history) {
    for (double v : {e.train_loss(), e.has_validation_loss() ? e.validation_loss() : 0.0}) {
      if (v > 0 && std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    }
  }
  if (hi == 0) lo = hi = 1;
  chart.SetX(0, history.size() + 1);
  chart.SetY(lo / 1.2, hi * 1.2, /*log=*/true);
  chart.Axes("epoch (all phases in order)", "loss");
  std::vector<std::pair<double, double>> train, validation;
  std::string segment;
  size_t segment_start = 0;
  auto flush = [&](size_t end) {
    chart.Line(train, kBlue);
    chart.Line(validation, kOrange, /*dashed=*/true);
    chart.Text((segment_start + end + 1) / 2.0, Chart::kTop + 28, segment, "middle");
    train.clear();
    validation.clear();
  };
  for (int i = 0; i < history.size(); ++i) {
    const v1::EpochRecord& e = history[i];
    if (SegmentName(e) != segment) {
      if (!segment.empty()) {
        flush(i);
        chart.VLine(i + 0.5, "#999", "");
      }
      segment = SegmentName(e);
      segment_start = i;
    }
    if (e.train_loss() > 0) train.emplace_back(i + 1, e.train_loss());
    if (e.has_validation_loss() && e.validation_loss() > 0) {
      validation.emplace_back(i + 1, e.validation_loss());
    }
  }
  flush(history.size());
  chart.Legend({{"train", kBlue}, {"validation", kOrange}});
  return chart.Svg();
}

// The training rows' scores under the model's default score (`metric`),
// from the calibration's quantiles (0.1-percentile steps), as a histogram on
// a log axis, with that score's threshold.
std::string ScoreChart(const v1::GetModelResponse& m, ScoreMetric metric) {
  const v1::ScoreDistribution& d = ScoreDistributionOf(m.calibration(), metric);
  std::vector<double> q;
  for (float v : d.quantiles()) {
    if (v > 0 && std::isfinite(v)) q.push_back(v);
  }
  if (q.size() < 2) return "<p>No score distribution recorded.</p>";
  Chart chart("error-chart",
              absl::StrFormat("Anomaly score (%s) of the training rows", MetricDescription(metric)),
              900, 300);
  const double lo = std::log10(q.front()),
               hi = std::log10(std::max(q.back(), static_cast<double>(d.threshold())));
  constexpr int kBins = 40;
  const double width = (hi - lo) / kBins > 0 ? (hi - lo) / kBins : 1.0;
  std::vector<double> share(kBins, 0.0);
  // Each step between neighbouring quantiles holds 1 / (steps) of the rows.
  const double steps = static_cast<double>(d.quantiles_size() - 1);
  for (size_t i = 0; i + 1 < q.size(); ++i) {
    const double mid = (std::log10(q[i]) + std::log10(q[i + 1])) / 2;
    share[std::clamp(static_cast<int>((mid - lo) / width), 0, kBins - 1)] += 100.0 / steps;
  }
  chart.SetX(std::pow(10, lo), std::pow(10, lo + kBins * width), /*log=*/true);
  chart.SetY(0, *std::max_element(share.begin(), share.end()) * 1.15);
  chart.Axes(absl::StrFormat("%s score per row (log scale)", MetricName(metric)),
             "% of training rows");
  for (int b = 0; b < kBins; ++b) {
    if (share[b] <= 0) continue;
    const double x0 = std::pow(10, lo + b * width), x1 = std::pow(10, lo + (b + 1) * width);
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
  Chart chart("drift-chart",
              absl::StrFormat("Live drift per feature over the last %d records", f.window_rows()),
              900, 80 + 22 * n, /*left=*/150);
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
    chart.Text(0, chart.Y(row) + 4, d.name(), "end", false, "#333", /*dx=*/-6);
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
void FitAxes(Chart* chart, const Matrix& xy) {
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
void DrawAnomalies(Chart* chart, const Matrix& xy, const SampleScores& scores) {
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
  if (!pca.ok()) return absl::StrCat("<p>", Escape(std::string(pca.status().message())), "</p>");
  const Matrix xy = pca->Project(codes);
  auto share = [&](int i) {
    return pca->total_variance > 0 ? 100.0 * pca->variance(i) / pca->total_variance : 0.0;
  };
  Chart chart("code-chart",
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
  if (!map.ok()) return absl::StrCat("<p>", Escape(std::string(map.status().message())), "</p>");
  const int rows = static_cast<int>(codes.rows());
  constexpr int kNeighbours = 10;
  const absl::StatusOr<double> trust = Trustworthiness(codes, map->embedding, kNeighbours);
  Chart chart("tsne-chart", absl::StrFormat("Codes of %d training rows: t-SNE map", rows), 900,
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
  return absl::StrCat(chart.Svg(), "<p class='note'>", Escape(note), "</p>");
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
        Escape(FormatSweepSettings(t)),
        t.error().empty() ? "" : absl::StrCat("<br><small>", Escape(t.error()), "</small>"),
        "</td></tr>\n");
  }
  return html + "</table>\n";
}

std::string Row(const std::string& name, const std::string& value) {
  return absl::StrCat("<tr><th>", Escape(name), "</th><td>", Escape(value), "</td></tr>\n");
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
      "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>", Escape(title),
      "</title>\n<style>body{font-family:sans-serif;margin:24px;color:#222;max-width:960px}"
      "table{border-collapse:collapse;margin-bottom:16px}th,td{text-align:left;padding:3px 12px "
      "3px 0;font-size:14px}th{color:#555;font-weight:normal}section{margin:18px 0}"
      "h1{font-size:22px}h2{font-size:17px;margin-bottom:4px}p.note{color:#555;font-size:13px;"
      "margin-top:2px}</style></head>\n<body>\n<h1>",
      Escape(title), "</h1>\n<table>\n");
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
  absl::StrAppend(&html, "<section><h2>Training</h2>", LossChart(m),
                  "<p class='note'>The served network's epochs. Pretraining losses are each "
                  "layer's own reconstruction of its input; fine-tuning is the whole network's, "
                  "in scaled units; supervised epochs show the supervised objective "
                  "(cross-entropy plus the weighted reconstruction loss).</p></section>\n");
  absl::StrAppend(&html, "<section><h2>Anomaly score</h2>", ScoreChart(m, metric),
                  "<p class='note'>Rows scoring above the red line are reported as anomalies "
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
    return Fail("report",
                ServerGone(ExplainUnservedVersion(info.status(), spec, "report"), global.server, ""));
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
