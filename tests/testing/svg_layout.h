// Reading the layout of the report's SVG charts (client/cli/svg_chart.h) from
// their markup, for tests that no text runs past its chart or over another:
// the elements of a tag with their attributes, the title's lines, the
// legend's swatches, the plot's frame, and a text's estimated extent.
//
// Widths are estimated as the charts estimate them, a character at a time,
// by the caller's figure: DejaVu Sans (the images' sans-serif) averages 6.3
// px a character at 12 px and 8.3 px at 14 px bold over the report's
// strings, so 7 and 9 leave some room.
#ifndef STRATA_TESTS_TESTING_SVG_LAYOUT_H_
#define STRATA_TESTS_TESTING_SVG_LAYOUT_H_

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_replace.h"

namespace strata::testing {

struct SvgElement {
  size_t at = 0;  // where its start tag begins in the markup
  std::map<std::string, std::string> attributes;
  std::string text;  // what follows the start tag up to the next tag, unescaped

  bool Has(const std::string& name) const { return attributes.count(name) > 0; }
  std::string Attribute(const std::string& name) const {
    const auto it = attributes.find(name);
    return it == attributes.end() ? "" : it->second;
  }
  // The attribute as a number; NaN when absent.
  double Number(const std::string& name) const {
    const auto it = attributes.find(name);
    return it == attributes.end() ? std::nan("") : std::stod(it->second);
  }
};

// The `tag` elements of `svg` ("text", "rect", ...), in order.
inline std::vector<SvgElement> SvgElements(const std::string& svg, const std::string& tag) {
  std::vector<SvgElement> out;
  const std::string open = "<" + tag;
  for (size_t at = svg.find(open); at != std::string::npos; at = svg.find(open, at + 1)) {
    const size_t after = at + open.size();
    if (after >= svg.size() || (svg[after] != ' ' && svg[after] != '>' && svg[after] != '/')) {
      continue;  // a longer tag name
    }
    const size_t end = svg.find('>', after);
    if (end == std::string::npos) break;
    SvgElement e;
    e.at = at;
    for (size_t i = after; i < end;) {
      const size_t eq = svg.find('=', i);
      if (eq == std::string::npos || eq + 1 >= end) break;
      const size_t name_at = svg.find_first_not_of(" \n", i);
      const char quote = svg[eq + 1];
      const size_t close = svg.find(quote, eq + 2);
      if (close == std::string::npos) break;
      e.attributes[svg.substr(name_at, eq - name_at)] = svg.substr(eq + 2, close - eq - 2);
      i = close + 1;
    }
    if (svg[end - 1] != '/') {
      const size_t next = std::min(svg.find('<', end), svg.size());
      e.text = absl::StrReplaceAll(
          svg.substr(end + 1, next - end - 1),
          {{"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&#39;", "'"}, {"&amp;", "&"}});
    }
    out.push_back(std::move(e));
  }
  return out;
}

// Characters (UTF-8 code points) of `s`.
inline int CodePoints(const std::string& s) {
  int n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// The viewBox's width and height.
inline std::pair<double, double> ViewBoxSize(const std::string& svg) {
  const std::vector<SvgElement> root = SvgElements(svg, "svg");
  if (root.empty()) return {0, 0};
  std::istringstream box(root[0].Attribute("viewBox"));
  double x = 0, y = 0, width = 0, height = 0;
  box >> x >> y >> width >> height;
  return {width, height};
}

// How far the plot's marks are moved down under the header (the
// translate(0,N) of their <g>); 0 without one.
inline double PlotOffset(const std::string& svg) {
  const std::string translate = "<g transform='translate(0,";
  const size_t at = svg.find(translate);
  return at == std::string::npos ? 0 : std::stod(svg.substr(at + translate.size()));
}

// Whether `e` is one of the plot's marks (inside the translated <g>).
inline bool InPlot(const std::string& svg, const SvgElement& e) {
  const size_t plot = svg.find("<g transform='translate(0,");
  return plot != std::string::npos && e.at > plot;
}

// The title's lines: the 14 px text.
inline std::vector<SvgElement> TitleLines(const std::string& svg) {
  std::vector<SvgElement> lines;
  for (SvgElement& t : SvgElements(svg, "text")) {
    if (t.Attribute("font-size") == "14") lines.push_back(std::move(t));
  }
  return lines;
}

// The lowest title line's baseline (0 without a title).
inline double TitleBaseline(const std::string& svg) {
  double y = 0;
  for (const SvgElement& t : TitleLines(svg)) y = std::max(y, t.Number("y"));
  return y;
}

// The legend's colour swatches: the 14 x 10 rects.
inline std::vector<SvgElement> LegendSwatches(const std::string& svg) {
  std::vector<SvgElement> swatches;
  for (SvgElement& r : SvgElements(svg, "rect")) {
    if (r.Attribute("width") == "14" && r.Attribute("height") == "10") {
      swatches.push_back(std::move(r));
    }
  }
  return swatches;
}

// The legend's names: the text outside the plot that is not the title.
inline std::vector<SvgElement> LegendNames(const std::string& svg) {
  std::vector<SvgElement> names;
  for (SvgElement& t : SvgElements(svg, "text")) {
    if (!InPlot(svg, t) && t.Attribute("font-size") != "14") names.push_back(std::move(t));
  }
  return names;
}

// The top of the plot's frame (the first unfilled rect), in the chart's
// coordinates.
inline double PlotTop(const std::string& svg) {
  for (const SvgElement& r : SvgElements(svg, "rect")) {
    if (r.Attribute("fill") == "none")
      return r.Number("y") + (InPlot(svg, r) ? PlotOffset(svg) : 0);
  }
  return std::nan("");
}

// The left and right ends of a <text> of `char_px` a character, by its
// x and text-anchor; NaN for text placed by a transform (the rotated y
// axis label).
inline std::pair<double, double> TextExtent(const SvgElement& t, double char_px) {
  const double x = t.Number("x"), width = CodePoints(t.text) * char_px;
  const std::string anchor = t.Attribute("text-anchor");
  if (anchor == "end") return {x - width, x};
  if (anchor == "middle") return {x - width / 2, x + width / 2};
  return {x, x + width};
}

}  // namespace strata::testing

#endif  // STRATA_TESTS_TESTING_SVG_LAYOUT_H_
