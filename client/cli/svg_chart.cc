#include "client/cli/svg_chart.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace strata::cli {
namespace {

bool IsContinuationByte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

size_t CodePoints(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += IsContinuationByte(c) ? 0 : 1;
  return n;
}

// The bytes of the first `n` code points of `s` (all of it when shorter).
size_t PrefixBytes(const std::string& s, size_t n) {
  size_t i = 0, seen = 0;
  for (; i < s.size(); ++i) {
    if (IsContinuationByte(s[i])) continue;
    if (seen == n) break;
    ++seen;
  }
  return i;
}

// How many characters fit `max_px`.
size_t MaxChars(double max_px, double char_px) {
  if (!(max_px > 0) || !(char_px > 0)) return 0;
  return static_cast<size_t>(std::floor(max_px / char_px + 1e-9));
}

std::string Num(double v) { return absl::StrFormat("%.4g", v); }

}  // namespace

std::string HtmlEscape(const std::string& s) {
  return absl::StrReplaceAll(
      s, {{"&", "&amp;"}, {"<", "&lt;"}, {">", "&gt;"}, {"\"", "&quot;"}, {"'", "&#39;"}});
}

double EstimatedTextWidth(const std::string& text, double char_px) {
  return static_cast<double>(CodePoints(text)) * char_px;
}

std::vector<std::string> WrapText(const std::string& text, double max_px, double char_px) {
  const size_t max_chars = std::max<size_t>(1, MaxChars(max_px, char_px));
  std::vector<std::string> lines;
  std::string line;
  for (absl::string_view piece : absl::StrSplit(text, ' ', absl::SkipEmpty())) {
    std::string word(piece);
    // A word wider than a line takes whole lines of its own first.
    while (CodePoints(word) > max_chars) {
      if (!line.empty()) lines.push_back(std::move(line));
      line.clear();
      const size_t cut = PrefixBytes(word, max_chars);
      lines.push_back(word.substr(0, cut));
      word = word.substr(cut);
    }
    if (line.empty()) {
      line = std::move(word);
    } else if (CodePoints(line) + 1 + CodePoints(word) <= max_chars) {
      absl::StrAppend(&line, " ", word);
    } else {
      lines.push_back(std::move(line));
      line = std::move(word);
    }
  }
  if (!line.empty()) lines.push_back(std::move(line));
  return lines;
}

std::string FitText(const std::string& text, double max_px, double char_px) {
  if (EstimatedTextWidth(text, char_px) <= max_px) return text;
  const size_t max_chars = MaxChars(max_px, char_px);
  if (max_chars <= 3) return "";
  std::string cut = text.substr(0, PrefixBytes(text, max_chars - 3));
  absl::StripTrailingAsciiWhitespace(&cut);
  return cut + "...";
}

SvgChart::SvgChart(std::string id, std::string title, int width, int height, int left)
    : id_(std::move(id)), title_(std::move(title)), width_(width), height_(height), left_(left) {}

double SvgChart::X(double v) const { return left_ + Fraction(x_, v) * plot_width(); }

double SvgChart::Y(double v) const {
  return height_ - kBottom - Fraction(y_, v) * (height_ - kTop - kBottom);
}

void SvgChart::Axes(const std::string& x_label, const std::string& y_label, bool y_ticks) {
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
                        (x0 + x1) / 2, height_ - 8,
                        HtmlEscape(FitText(x_label, x1 - x0, kTextCharPx)));
  absl::StrAppendFormat(&body_,
                        "<text transform='translate(14,%.1f) rotate(-90)' "
                        "text-anchor='middle'>%s</text>\n",
                        (y0 + y1) / 2, HtmlEscape(FitText(y_label, y0 - y1, kTextCharPx)));
}

void SvgChart::Line(const std::vector<std::pair<double, double>>& points, const char* color,
                    bool dashed) {
  if (points.empty()) return;
  std::string d;
  for (const auto& [x, y] : points) absl::StrAppendFormat(&d, "%.1f,%.1f ", X(x), Y(y));
  absl::StrAppendFormat(&body_,
                        "<polyline points='%s' fill='none' stroke='%s' stroke-width='2.5'%s/>\n", d,
                        color, dashed ? " stroke-dasharray='6 4'" : "");
}

void SvgChart::VLine(double x, const char* color, const std::string& label) {
  const double at = X(x);
  const double room_right = width_ - kRight - (at + 4), room_left = at - 4 - left_;
  const bool right =
      EstimatedTextWidth(label, kTextCharPx) <= room_right || room_right >= room_left;
  const std::string shown = FitText(label, right ? room_right : room_left, kTextCharPx);
  absl::StrAppendFormat(&body_,
                        "<line x1='%.1f' y1='%d' x2='%.1f' y2='%d' stroke='%s' "
                        "stroke-width='3'/><text x='%.1f' y='%d' fill='%s' "
                        "text-anchor='%s'>%s</text>\n",
                        at, kTop, at, height_ - kBottom, color, right ? at + 4 : at - 4, kTop + 14,
                        color, right ? "start" : "end", HtmlEscape(shown));
}

void SvgChart::Rect(double x0, double x1, double y0, double y1, const char* color,
                    const std::string& tooltip) {
  const double left = std::min(X(x0), X(x1)), top = std::min(Y(y0), Y(y1));
  absl::StrAppendFormat(&body_,
                        "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='%s'>"
                        "<title>%s</title></rect>\n",
                        left, top, std::abs(X(x1) - X(x0)), std::abs(Y(y1) - Y(y0)), color,
                        HtmlEscape(tooltip));
}

void SvgChart::Dot(double x, double y, const char* color) {
  absl::StrAppendFormat(&body_, "<circle cx='%.1f' cy='%.1f' r='3.5' fill='%s'/>\n", X(x), Y(y),
                        color);
}

void SvgChart::Text(double x, double y, const std::string& text, const char* anchor, bool data_y,
                    const char* color, double dx) {
  absl::StrAppendFormat(&body_, "<text x='%.1f' y='%.1f' text-anchor='%s' fill='%s'>%s</text>\n",
                        X(x) + dx, data_y ? Y(y) : y, anchor, color, HtmlEscape(text));
}

std::string SvgChart::Header(int* bottom_baseline) const {
  // A one-line title's baseline sits 14 px above the plot's top (kTop) when
  // nothing else is in the header; its descenders and the legend's need 8.
  constexpr int kFirstBaseline = kTop - 14, kTitleLine = 18, kLegendRow = 16;
  const double right = width_ - kRight;
  std::string out;
  int baseline = kFirstBaseline;
  const std::vector<std::string> lines = WrapText(title_, right - left_, kTitleCharPx);
  for (size_t i = 0; i < lines.size(); ++i) {
    baseline = kFirstBaseline + kTitleLine * static_cast<int>(i);
    absl::StrAppendFormat(&out,
                          "<text class='chart-title' x='%d' y='%d' font-size='14' "
                          "font-weight='bold'>%s</text>\n",
                          left_, baseline, HtmlEscape(lines[i]));
  }
  if (!legend_.empty()) {
    out += "<g class='legend'>\n";
    int top = baseline + 8;  // the swatches' top, in the first row
    double x = left_;
    for (const auto& [name, color] : legend_) {
      const std::string shown = FitText(name, right - left_ - 18, kTextCharPx);
      const double entry = 18 + EstimatedTextWidth(shown, kTextCharPx);
      if (x > left_ && x + entry > right) {
        x = left_;
        top += kLegendRow;
      }
      absl::StrAppendFormat(&out,
                            "<rect x='%.1f' y='%d' width='14' height='10' fill='%s'/>"
                            "<text x='%.1f' y='%d'>%s</text>\n",
                            x, top, color, x + 18, top + 9, HtmlEscape(shown));
      x += entry + 16;
    }
    out += "</g>\n";
    baseline = top + 9;
  }
  *bottom_baseline = baseline;
  return out;
}

std::string SvgChart::Svg() const {
  int bottom_baseline = 0;
  const std::string header = Header(&bottom_baseline);
  // 0 under a one-line title alone: the plot's coordinates are the chart's.
  const int offset = bottom_baseline + 14 - kTop;
  return absl::StrFormat(
      "<svg id='%s' xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' "
      "viewBox='0 0 %d %d' font-family='sans-serif' font-size='12'>\n%s"
      "<g transform='translate(0,%d)'>\n%s</g>\n</svg>\n",
      id_, width_, height_ + offset, width_, height_ + offset, header, offset, body_);
}

void SvgChart::SetAxis(Axis* a, double lo, double hi, bool log) {
  if (log) {
    lo = std::log10(std::max(lo, 1e-30));
    hi = std::log10(std::max(hi, 1e-30));
  }
  if (!(hi > lo)) hi = lo + 1;  // also catches NaN
  *a = {lo, hi, log};
}

double SvgChart::Fraction(const Axis& a, double v) {
  const double t = a.log ? std::log10(std::max(v, 1e-30)) : v;
  return std::clamp((t - a.lo) / (a.hi - a.lo), -0.02, 1.02);
}

// About five round ticks: 1-2-5 steps, or powers of ten on a log axis.
std::vector<double> SvgChart::Ticks(const Axis& a) {
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

}  // namespace strata::cli
