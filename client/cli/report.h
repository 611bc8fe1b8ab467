// `strata report`: one self-contained HTML page with SVG charts of a model
// version — its training curves (the reconstruction loss, and a
// classifier's supervised objective on a chart of its own), the training
// rows' anomaly-score distribution with the threshold, the live drift per
// feature and 2-D views (first two principal components, a t-SNE map) of a
// sample of training codes.
#ifndef STRATA_CLIENT_CLI_REPORT_H_
#define STRATA_CLIENT_CLI_REPORT_H_

#include <string>
#include <vector>

#include "client/cli/commands.h"
#include "strata/v1/service.pb.h"

namespace strata::cli {

// The page for `model` (from GetModel) and its drift (from DriftReport).
// Each chart is an <svg> (client/svg_chart.h) with an id: loss-chart,
// supervised-chart (a classifier's), error-chart, drift-chart, code-chart,
// tsne-chart. Values are HTML-escaped; the page loads nothing from outside.
std::string RenderReport(const v1::GetModelResponse& model, const v1::DriftReportResponse& drift);

int RunReport(const GlobalFlags& global, const std::vector<std::string>& args);

}  // namespace strata::cli

#endif  // STRATA_CLIENT_CLI_REPORT_H_
