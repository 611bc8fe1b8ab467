// SvgChart: one chart of `strata report` as an inline <svg>. A header holds
// the title, wrapped to the chart's width, and under it the legend, in rows
// that wrap too; the plot area, with linear or log axes and marks in data
// coordinates, starts below them.
//
//   SvgChart chart("loss-chart", "Reconstruction loss (log scale)", 900, 320);
//   chart.SetX(0, 10);
//   chart.SetY(1e-3, 1, /*log=*/true);
//   chart.Axes("epoch", "loss");
//   chart.Line({{1, 0.5}, {2, 0.1}}, "#1f77b4");
//   chart.Legend({{"train", "#1f77b4"}});
//   const std::string svg = chart.Svg();
//
// The header's height is known only once the legend is, which is often
// after the marks (a legend may count them). So marks are drawn in the
// plot's own coordinates, its frame from y = kTop to height - kBottom, and
// Svg() moves them down by what the header needs beyond kTop, growing the
// <svg> by as much: a title or legend is never drawn over the plot, nor
// over each other, whatever their lengths.
//
// A page cannot measure text before it is drawn, so text is laid out by an
// estimated width: kTextCharPx a character at the charts' 12 px, and
// kTitleCharPx at the 14 px bold of titles. DejaVu Sans, the sans-serif of
// the images the report's tests run in, averages 6.3 and 8.3 px a character
// over the report's titles and labels (5.9 to 7.0 and 7.6 to 9.2 by
// string): the estimates leave some 10% to spare.
//
// Not thread-safe; one per chart.
#ifndef STRATA_CLIENT_CLI_SVG_CHART_H_
#define STRATA_CLIENT_CLI_SVG_CHART_H_

#include <string>
#include <utility>
#include <vector>

namespace strata::cli {

// `s` with & < > " ' escaped, for HTML text and attributes and SVG alike.
std::string HtmlEscape(const std::string& s);

// The estimated width in px of `text` (UTF-8) at `char_px` a character.
double EstimatedTextWidth(const std::string& text, double char_px);

// `text` in lines no wider than `max_px` (estimated), broken at spaces; a
// word wider than a line is broken where the line ends.
std::vector<std::string> WrapText(const std::string& text, double max_px, double char_px);

// `text`, or as much of it as fits `max_px` followed by "..." (empty when not
// even that fits).
std::string FitText(const std::string& text, double max_px, double char_px);

class SvgChart {
 public:
  // The plot area's margins, in the plot's own coordinates (kTop is the
  // height of a one-line title without a legend; a taller header moves the
  // plot down).
  static constexpr int kRight = 24, kTop = 34, kBottom = 46;
  // Estimated px a character (see the file comment).
  static constexpr double kTextCharPx = 7.0;   // 12 px
  static constexpr double kTitleCharPx = 9.0;  // 14 px bold

  // `width` x `height`: the chart without the header's growth; `left`: the
  // margin for the y axis' labels, where the title and legend start too.
  SvgChart(std::string id, std::string title, int width, int height, int left = 64);

  void SetX(double lo, double hi, bool log = false) { SetAxis(&x_, lo, hi, log); }
  void SetY(double lo, double hi, bool log = false) { SetAxis(&y_, lo, hi, log); }
  // Data to plot coordinates.
  double X(double v) const;
  double Y(double v) const;
  // The left edge of the plot area, and its width.
  int left() const { return left_; }
  int plot_width() const { return width_ - left_ - kRight; }

  // The frame, ticks (about five, round) and the axes' labels, each cut to
  // the plot's width or height.
  void Axes(const std::string& x_label, const std::string& y_label, bool y_ticks = true);
  void Line(const std::vector<std::pair<double, double>>& points, const char* color,
            bool dashed = false);
  // A vertical line at data x, its label right of it, or left of it where
  // there is more room; cut to the plot where it fits neither side.
  void VLine(double x, const char* color, const std::string& label);
  void Rect(double x0, double x1, double y0, double y1, const char* color,
            const std::string& tooltip);
  void Dot(double x, double y, const char* color);
  // Text at data x moved by dx pixels, plot y in pixels (or data y when
  // data_y). SVG collapses leading and trailing spaces, so gaps are dx, not
  // spaces. The caller keeps it inside the chart.
  void Text(double x, double y, const std::string& text, const char* anchor = "start",
            bool data_y = false, const char* color = "#333", double dx = 0);
  // Swatches and names, drawn by Svg() in rows under the title; a name too
  // wide for a row on its own is cut. Replaces an earlier legend.
  void Legend(std::vector<std::pair<std::string, const char*>> entries) {
    legend_ = std::move(entries);
  }

  // <svg id=...> with the title lines (class chart-title), the legend (a
  // <g class='legend'>) and the plot (a <g> translated under the header).
  std::string Svg() const;

 private:
  struct Axis {
    double lo = 0, hi = 1;
    bool log = false;
  };
  static void SetAxis(Axis* a, double lo, double hi, bool log);
  static double Fraction(const Axis& a, double v);
  static std::vector<double> Ticks(const Axis& a);
  // The title's and legend's markup; `*bottom_baseline`: the baseline of
  // the header's last line of text.
  std::string Header(int* bottom_baseline) const;

  // Constant after construction.
  const std::string id_, title_;
  const int width_, height_, left_;

  Axis x_, y_;
  std::vector<std::pair<std::string, const char*>> legend_;
  std::string body_;  // The marks, in plot coordinates.
};

}  // namespace strata::cli

#endif  // STRATA_CLIENT_CLI_SVG_CHART_H_
