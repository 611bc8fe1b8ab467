#include "client/cli/svg_chart.h"

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/svg_layout.h"

namespace strata::cli {
namespace {

using ::testing::ElementsAre;
using testing::SvgElement;

// The widths the checks allow a character (tests/testing/svg_layout.h),
// written out rather than read from SvgChart, so that a chart that shrinks
// its own estimates still fails here.
constexpr double kTextPx = 7.0, kTitlePx = 9.0;

// A chart with axes on [0, 1] x [0, 1], `title` and `legend`.
std::string Render(const std::string& title, int width,
                   const std::vector<std::pair<std::string, const char*>>& legend = {}) {
  SvgChart chart("c", title, width, 300);
  chart.SetX(0, 1);
  chart.SetY(0, 1);
  chart.Axes("x", "y");
  chart.Dot(0.5, 0.5, "#000");
  if (!legend.empty()) chart.Legend(legend);
  return chart.Svg();
}

// "The score chart's title is cut off": the ensemble score's 250-character
// description ran on one line past the 900 px chart. A title now wraps to
// the chart's width, line under line, and the plot starts below it.
TEST(SvgChartTest, ALongTitleWrapsWithinTheChartsWidth) {
  const std::string title =
      "Anomaly score (ensemble: the mean over the ensemble's networks of how far the row's code "
      "is from the training codes, whitened and not, plus how far into the training data's "
      "tails its values lie) of the training rows";
  const int width = 500;
  const std::string svg = Render(title, width);
  const std::vector<SvgElement> lines = testing::TitleLines(svg);
  ASSERT_GE(lines.size(), 4u) << svg;
  std::vector<std::string> words;
  double last_baseline = 0;
  for (const SvgElement& line : lines) {
    EXPECT_LE(line.Number("x") + testing::CodePoints(line.text) * kTitlePx,
              width - SvgChart::kRight)
        << line.text;
    EXPECT_GE(line.Number("y"), last_baseline + 14) << "lines of 14 px text overlap";
    last_baseline = line.Number("y");
    words.push_back(line.text);
  }
  EXPECT_EQ(absl::StrJoin(words, " "), title) << "nothing lost or reordered";
  EXPECT_GE(testing::PlotTop(svg), last_baseline + 8);
  // The plot keeps its size: the chart grows by what the header needs.
  EXPECT_EQ(testing::ViewBoxSize(svg).second, 300 + testing::PlotOffset(svg));
  EXPECT_EQ(testing::ViewBoxSize(svg).first, width);
}

// "The PCA chart's title runs under its legend": the legend was drawn at
// y 12-22, right-aligned, over a title whose baseline is 20. It now sits in
// rows under the title, above the plot.
TEST(SvgChartTest, TheLegendSitsUnderTheTitleAndAboveThePlot) {
  const std::string svg =
      Render("Codes of 2000 training rows: first two principal components", 900,
             {{"normal", "#1f77b4"}, {"above the combined threshold (26)", "#d62728"}});
  const double title_baseline = testing::TitleBaseline(svg);
  ASSERT_GT(title_baseline, 0);
  const std::vector<SvgElement> swatches = testing::LegendSwatches(svg);
  const std::vector<SvgElement> names = testing::LegendNames(svg);
  ASSERT_EQ(swatches.size(), 2u) << svg;
  ASSERT_EQ(names.size(), 2u) << svg;
  for (const SvgElement& swatch : swatches) {
    EXPECT_GE(swatch.Number("y"), title_baseline + 4) << "below the title's descenders";
    EXPECT_LE(swatch.Number("y") + 10, testing::PlotTop(svg));
  }
  for (const SvgElement& name : names) {
    EXPECT_GE(name.Number("y") - 12, title_baseline) << name.text;
    EXPECT_LE(name.Number("y") + 4, testing::PlotTop(svg)) << name.text;
    EXPECT_LE(testing::TextExtent(name, kTextPx).second, 900 - SvgChart::kRight) << name.text;
  }
  EXPECT_EQ(names[1].text, "above the combined threshold (26)");
  // Without a legend or a second title line, the plot is where it was.
  EXPECT_EQ(testing::PlotOffset(Render("A short title", 900)), 0);
}

// Ten classes and "unlabelled" ran off the left edge of a right-aligned
// legend; entries now fill rows left to right, each within the chart.
TEST(SvgChartTest, AWideLegendWrapsIntoRowsWithinTheChart) {
  std::vector<std::pair<std::string, const char*>> legend;
  for (int k = 0; k < 11; ++k) legend.emplace_back(absl::StrCat("class number ", k), "#123456");
  legend.emplace_back(std::string(120, 'w'), "#654321");  // wider than any row: cut
  const int width = 500;
  const std::string svg = Render("Classes", width, legend);
  const std::vector<SvgElement> swatches = testing::LegendSwatches(svg);
  const std::vector<SvgElement> names = testing::LegendNames(svg);
  ASSERT_EQ(swatches.size(), legend.size());
  ASSERT_EQ(names.size(), legend.size());
  std::map<double, std::vector<std::pair<double, double>>> rows;  // y -> entries' [left, right]
  for (size_t i = 0; i < names.size(); ++i) {
    const double left = swatches[i].Number("x");
    const double right = testing::TextExtent(names[i], kTextPx).second;
    EXPECT_GE(left, 64) << names[i].text;
    EXPECT_LE(right, width - SvgChart::kRight) << names[i].text;
    rows[swatches[i].Number("y")].emplace_back(left, right);
  }
  EXPECT_GE(rows.size(), 3u);
  for (auto& [y, entries] : rows) {
    std::sort(entries.begin(), entries.end());
    for (size_t i = 1; i < entries.size(); ++i) {
      EXPECT_GT(entries[i].first, entries[i - 1].second) << "entries overlap in the row at " << y;
    }
  }
  EXPECT_GE(testing::PlotTop(svg), rows.rbegin()->first + 10);
  EXPECT_EQ(names.back().text.substr(names.back().text.size() - 3), "...");
}

// The axes' labels and a marker's label stay inside the chart whatever
// their lengths: cut where they cannot fit, never drawn past the edge.
TEST(SvgChartTest, NoTextRunsPastTheChart) {
  const int width = 500, height = 300;
  SvgChart chart("c", "Title", width, height);
  chart.SetX(0, 1);
  chart.SetY(0, 1);
  chart.Axes(std::string(200, 'x'), std::string(200, 'y'));
  chart.VLine(0.97, "#d62728", "a threshold near the right edge, labelled at length");
  chart.VLine(0.03, "#d62728", "a threshold near the left edge, labelled at length too");
  chart.VLine(0.5, "#d62728", std::string(200, 'm'));  // fits neither side
  const std::string svg = chart.Svg();
  int rotated = 0;
  for (const SvgElement& t : testing::SvgElements(svg, "text")) {
    if (!t.Has("x")) {  // the y axis' label, rotated: along the plot's height
      ++rotated;
      EXPECT_LE(testing::CodePoints(t.text) * kTextPx, height - SvgChart::kTop - SvgChart::kBottom);
      continue;
    }
    const auto [left, right] =
        testing::TextExtent(t, t.Attribute("font-size") == "14" ? kTitlePx : kTextPx);
    EXPECT_GE(left, 0) << t.text;
    EXPECT_LE(right, width) << t.text;
    if (t.Attribute("fill") == "#d62728") {  // a marker's label: within the plot
      EXPECT_GE(left, 64) << t.text;
      EXPECT_LE(right, width - SvgChart::kRight) << t.text;
      EXPECT_FALSE(t.text.empty());
    }
  }
  EXPECT_EQ(rotated, 1);
}

TEST(SvgChartTest, WrapTextBreaksAtSpacesAndCutsWordsWiderThanALine) {
  EXPECT_THAT(WrapText("aaa bbb ccc", 7 * 7, 7), ElementsAre("aaa bbb", "ccc"));
  EXPECT_THAT(WrapText("aaa  bbb", 100, 7), ElementsAre("aaa bbb"));
  EXPECT_THAT(WrapText("x " + std::string(20, 'w'), 8 * 7, 7),
              ElementsAre("x", "wwwwwwww", "wwwwwwww", "wwww"));
  EXPECT_TRUE(WrapText("", 100, 7).empty());
  // Characters, not bytes: "é" is two bytes.
  EXPECT_EQ(EstimatedTextWidth("\xc3\xa9t\xc3\xa9", 7), 21);
  EXPECT_THAT(WrapText("\xc3\xa9\xc3\xa9 \xc3\xa9\xc3\xa9", 5 * 7, 7),
              ElementsAre("\xc3\xa9\xc3\xa9 \xc3\xa9\xc3\xa9"));
}

TEST(SvgChartTest, FitTextCutsWithAnEllipsisOnlyWhatDoesNotFit) {
  EXPECT_EQ(FitText("abc", 21, 7), "abc");
  EXPECT_EQ(FitText("abcdefghij", 6 * 7, 7), "abc...");
  EXPECT_EQ(FitText("ab defghij", 6 * 7, 7), "ab...");
  EXPECT_EQ(FitText("abcdefghij", 3 * 7, 7), "");
  EXPECT_LE(EstimatedTextWidth(FitText(std::string(50, 'q'), 100, 7), 7), 100);
}

TEST(SvgChartTest, TextIsEscaped) {
  const std::string svg = Render("a <b> & 'c'", 900, {{"x < y", "#000"}});
  EXPECT_NE(svg.find("a &lt;b&gt; &amp; &#39;c&#39;"), std::string::npos) << svg;
  EXPECT_NE(svg.find(">x &lt; y</text>"), std::string::npos) << svg;
}

}  // namespace
}  // namespace strata::cli
