#include "client/cli/report.h"

#include <memory>
#include <string>
#include <vector>

#include "client/training_report.h"
#include "core/scoring/anomaly.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/svg_layout.h"
#include "tests/testing/test_models.h"

namespace strata::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::SvgElement;

// A character's width at 12 px and at the 14 px bold of titles, as
// tests/testing/svg_layout.h estimates them.
constexpr double kTextPx = 7.0, kTitlePx = 9.0;

// What GetModel answers about `model` (server/model_service.cc), the
// fields the report reads.
v1::GetModelResponse Describe(const Model& model) {
  const ModelInfo& info = model.info();
  v1::GetModelResponse m;
  m.mutable_model()->set_name("m");
  m.mutable_model()->set_version(1);
  *m.mutable_architecture() = model.autoencoder().architecture();
  *m.mutable_scaler() = model.scaler().ToProto();
  m.mutable_feature_names()->Add(info.feature_names.begin(), info.feature_names.end());
  *m.mutable_calibration() = info.calibration;
  *m.mutable_config() = info.config;
  m.mutable_history()->Add(info.history.begin(), info.history.end());
  *m.mutable_summary() = info.summary;
  *m.mutable_drift_baseline() = info.drift_baseline;
  return m;
}

// The <svg> element of `html` with this id ("" if none).
std::string Svg(const std::string& html, const std::string& id) {
  const size_t at = html.find("<svg id='" + id + "'");
  if (at == std::string::npos) return "";
  return html.substr(at, html.find("</svg>", at) - at);
}

// The anomaly legend of a code chart: "above the combined threshold (26)".
std::string AnomalyLegend(const std::string& svg) {
  const size_t at = svg.find("above the ");
  if (at == std::string::npos) return "";
  return svg.substr(at, svg.find('<', at) - at);
}

// "Figures that disagree" (d): on the same sampled codes the PCA view said
// "above the combined threshold (26)" and the t-SNE view "above the mse
// threshold (26)". The t-SNE chart read the metric before the call that set
// it (an out-parameter and its reader in one argument list, evaluated in
// an unspecified order). Both name the score the sample was scored by.
TEST(RenderReportTest, BothCodeViewsNameTheScoreTheirSampleWasScoredBy) {
  const std::unique_ptr<Model> model = testing::SmallModel(6, 1, 5);
  ASSERT_TRUE(model != nullptr);
  // The ensemble score needs every network: the sample is scored COMBINED.
  ASSERT_EQ(DefaultMetric(model->info().calibration), ScoreMetric::kEnsemble);
  const std::string html = RenderReport(Describe(*model), v1::DriftReportResponse());
  const std::string pca = AnomalyLegend(Svg(html, "code-chart"));
  const std::string tsne = AnomalyLegend(Svg(html, "tsne-chart"));
  EXPECT_THAT(pca, HasSubstr("above the combined threshold ("));
  EXPECT_EQ(tsne, pca);
}

// "Figures that disagree" (a, b) and "an ensemble's networks are not
// counted": the report names its loss and whose accuracy it gives, and
// counts every network's epochs with the whole training's seconds, as
// `strata train` and `inspect` print them.
TEST(RenderReportTest, TheSummaryFiguresSayWhatTheyAre) {
  const std::unique_ptr<Model> model = testing::SmallModel(6, 2, 3);
  ASSERT_TRUE(model != nullptr);
  v1::GetModelResponse m = Describe(*model);
  ASSERT_EQ(m.config().anomaly().ensemble_size(), 5);
  EXPECT_EQ(m.summary().epochs(), 5 * 3);
  m.add_class_names("a");
  m.add_class_names("b");
  m.mutable_summary()->mutable_classifier()->set_validation_accuracy(0.8967);
  m.mutable_summary()->mutable_classifier()->set_validation_labelled_rows(70);
  const std::string html = RenderReport(m, v1::DriftReportResponse());
  EXPECT_THAT(html, HasSubstr("<th>final reconstruction loss</th>"));
  EXPECT_THAT(html, HasSubstr("validation accuracy 0.8967 on 70 labelled rows (the published "
                              "weights: the epoch early stopping kept)"));
  EXPECT_THAT(html, HasSubstr(FormatEpochsAndSeconds(m.summary(), 5)));
  EXPECT_THAT(html, HasSubstr("15 epochs (5 networks) in "));
}

// Every <svg> of `html`.
std::vector<std::string> Svgs(const std::string& html) {
  std::vector<std::string> svgs;
  for (size_t at = html.find("<svg "); at != std::string::npos; at = html.find("<svg ", at + 1)) {
    svgs.push_back(html.substr(at, html.find("</svg>", at) - at));
  }
  return svgs;
}

// The points of the chart's lines (training and validation losses).
int LinePoints(const std::string& svg) {
  int n = 0;
  for (const SvgElement& line : testing::SvgElements(svg, "polyline")) {
    const std::string points = line.Attribute("points");
    for (size_t at = points.find(','); at != std::string::npos; at = points.find(',', at + 1)) {
      ++n;
    }
  }
  return n;
}

// The y axis' label: the one text placed by a rotation.
std::string YLabel(const std::string& svg) {
  for (const SvgElement& t : testing::SvgElements(svg, "text")) {
    if (t.Attribute("transform").find("rotate") != std::string::npos) return t.text;
  }
  return "";
}

// "The score chart's title is cut off" at 1,200 px: it described the
// ensemble score in 250 characters on one line of a 900 px chart. No text
// of any chart runs past its chart's width, nor a feature's name past the
// left edge of the drift chart.
TEST(RenderReportTest, NoChartsTextRunsPastItsWidth) {
  const std::unique_ptr<Model> model = testing::SmallModel(6, 1, 5);
  ASSERT_TRUE(model != nullptr);
  ASSERT_EQ(DefaultMetric(model->info().calibration), ScoreMetric::kEnsemble);
  v1::DriftReportResponse drift;
  v1::DriftFigures* f = drift.mutable_figures();
  f->set_window_rows(500);
  f->add_features()->set_name("serum_thyroid_stimulating_hormone_at_admission");
  f->mutable_features(0)->set_drift(0.4);
  f->add_features()->set_name("f1");
  f->mutable_features(1)->set_drift(0.05);
  const std::string html = RenderReport(Describe(*model), drift);
  const std::vector<std::string> svgs = Svgs(html);
  EXPECT_EQ(svgs.size(), 5u) << "loss, score, drift, PCA and t-SNE";
  for (const std::string& svg : svgs) {
    const double width = testing::ViewBoxSize(svg).first;
    ASSERT_GT(width, 0) << svg.substr(0, 200);
    for (const SvgElement& t : testing::SvgElements(svg, "text")) {
      if (!t.Has("x")) continue;  // the rotated y axis' label
      const auto [left, right] =
          testing::TextExtent(t, t.Attribute("font-size") == "14" ? kTitlePx : kTextPx);
      EXPECT_GE(left, 0) << t.text << " in " << svg.substr(0, 30);
      EXPECT_LE(right, width) << t.text << " in " << svg.substr(0, 30);
    }
  }
  // The score chart names its score; the note under it describes it.
  EXPECT_THAT(Svg(html, "error-chart"), HasSubstr("Anomaly score (ensemble) of the training rows"));
  EXPECT_THAT(html, HasSubstr("<p class='note'>ensemble: the mean over the ensemble"));
  // The drifted feature is there, cut; its bar's tooltip names it whole.
  EXPECT_THAT(Svg(html, "drift-chart"), HasSubstr(">serum_thyroid_sti...<"));
  EXPECT_THAT(Svg(html, "drift-chart"),
              HasSubstr("<title>serum_thyroid_stimulating_hormone_at_admission: PSI"));
}

// The ensemble score of a model with a forest is in deviations around the
// mean training row: about half the training rows score below 0. The score
// chart drew only positive quantiles on a log axis, so it showed half the
// rows. Now its bars hold every training row (each bar's tooltip gives its
// share, to 0.1%: 40 bars round by 2% at most), on a linear axis.
TEST(RenderReportTest, TheScoreChartShowsEveryTrainingRowWhenScoresGoBelowZero) {
  const std::unique_ptr<Model> model = testing::SmallModel(6, 1, 5);
  ASSERT_TRUE(model != nullptr);
  const v1::ScoreDistribution& d = model->info().calibration.ensemble().scores();
  ASSERT_LT(d.quantiles(0), 0) << "the chart's case: negative training scores";
  const std::string svg =
      Svg(RenderReport(Describe(*model), v1::DriftReportResponse()), "error-chart");
  ASSERT_FALSE(svg.empty());
  EXPECT_THAT(svg, Not(HasSubstr("(log scale)")));
  double total = 0;
  for (const SvgElement& t : testing::SvgElements(svg, "title")) {
    const size_t colon = t.text.rfind(": ");
    if (colon == std::string::npos || t.text.back() != '%') continue;
    total += std::stod(t.text.substr(colon + 2, t.text.size() - colon - 3));
  }
  EXPECT_NEAR(total, 100, 2);
}

// "The PCA chart's title runs under its legend": the legend sat at y 12-22,
// right-aligned over the title's baseline at 20. In both code views the
// legend is under the title, and above the plot.
TEST(RenderReportTest, TheCodeViewsLegendsSitUnderTheirTitles) {
  const std::unique_ptr<Model> model = testing::SmallModel(6, 1, 5);
  ASSERT_TRUE(model != nullptr);
  const std::string html = RenderReport(Describe(*model), v1::DriftReportResponse());
  for (const char* id : {"code-chart", "tsne-chart", "loss-chart"}) {
    const std::string svg = Svg(html, id);
    ASSERT_FALSE(svg.empty()) << id;
    const double title = testing::TitleBaseline(svg);
    ASSERT_GT(title, 0) << id;
    const std::vector<SvgElement> swatches = testing::LegendSwatches(svg);
    ASSERT_EQ(swatches.size(), 2u) << id;
    for (const SvgElement& swatch : swatches) {
      EXPECT_GE(swatch.Number("y"), title + 4) << id << ": a swatch over the title";
      EXPECT_LE(swatch.Number("y") + 10, testing::PlotTop(svg)) << id << ": a swatch in the plot";
    }
  }
}

// Cross-entropy was drawn on the loss chart's reconstruction-loss axis, as
// one more segment. The reconstruction chart holds the reconstruction
// losses alone; the supervised objective has a chart of its own, named
// for what it is: the head's cross-entropy, plus the weighted
// reconstruction loss unless the encoder is frozen.
TEST(RenderReportTest, AClassifiersSupervisedObjectiveHasAChartOfItsOwn) {
  const std::unique_ptr<Model> model = testing::SmallModel(6, 3, 4);
  ASSERT_TRUE(model != nullptr);
  v1::GetModelResponse m = Describe(*model);
  int reconstruction_points = 0;
  for (const v1::EpochRecord& e : m.history()) {
    ASSERT_NE(e.phase(), v1::EpochRecord::SUPERVISED);
    reconstruction_points += e.train_loss() > 0;
    reconstruction_points += e.has_validation_loss() && e.validation_loss() > 0;
  }
  ASSERT_GT(reconstruction_points, 0);
  m.add_class_names("a");
  m.add_class_names("b");
  m.mutable_config()->mutable_supervised()->set_reconstruction_weight(0.5f);
  for (int epoch = 1; epoch <= 3; ++epoch) {
    v1::EpochRecord* e = m.add_history();
    e->set_phase(v1::EpochRecord::SUPERVISED);
    e->set_epoch(epoch);
    e->set_train_loss(2.0 / epoch);
    e->set_validation_loss(2.5 / epoch);
  }
  const std::string html = RenderReport(m, v1::DriftReportResponse());
  const std::string loss = Svg(html, "loss-chart");
  const std::string supervised = Svg(html, "supervised-chart");
  ASSERT_FALSE(loss.empty());
  ASSERT_FALSE(supervised.empty()) << "no chart of the supervised phase";
  EXPECT_EQ(LinePoints(loss), reconstruction_points) << "supervised epochs on the loss chart";
  EXPECT_THAT(loss, Not(HasSubstr(">supervised<")));
  EXPECT_EQ(YLabel(loss), "reconstruction loss (MSE)");
  EXPECT_EQ(LinePoints(supervised), 3 + 3);
  EXPECT_EQ(YLabel(supervised), "cross-entropy + 0.5 x MSE");
  EXPECT_THAT(supervised, HasSubstr("supervised phase: cross-entropy + 0.5 x MSE reconstruction"));

  m.mutable_config()->mutable_supervised()->set_mode(v1::SupervisedConfig::FROZEN_ENCODER);
  const std::string frozen = Svg(RenderReport(m, v1::DriftReportResponse()), "supervised-chart");
  EXPECT_EQ(YLabel(frozen), "cross-entropy");
  EXPECT_THAT(frozen, HasSubstr("supervised phase: cross-entropy (log scale)"));
  // A model without a supervised phase has no such chart.
  EXPECT_EQ(Svg(RenderReport(Describe(*model), v1::DriftReportResponse()), "supervised-chart"), "");
}

}  // namespace
}  // namespace strata::cli
