#include "client/report.h"

#include <memory>
#include <string>

#include "client/training_report.h"
#include "core/anomaly.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/test_models.h"

namespace strata::cli {
namespace {

using ::testing::HasSubstr;

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

}  // namespace
}  // namespace strata::cli
