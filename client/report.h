// `strata report`: one self-contained HTML page with SVG charts of a model
// version — its training curves, the training reconstruction-error
// distribution with the threshold, the live drift per feature and a 2-D view
// (first two principal components) of a sample of training codes.
#ifndef STRATA_CLIENT_REPORT_H_
#define STRATA_CLIENT_REPORT_H_

#include <string>
#include <vector>

#include "client/commands.h"
#include "strata/v1/service.pb.h"

namespace strata::cli {

// The page for `model` (from GetModel) and its drift (from DriftReport).
// Each chart is an <svg> with an id: loss-chart, error-chart, drift-chart,
// code-chart. Values are HTML-escaped; the page loads nothing from outside.
std::string RenderReport(const v1::GetModelResponse& model, const v1::DriftReportResponse& drift);

int RunReport(const GlobalFlags& global, const std::vector<std::string>& args);

}  // namespace strata::cli

#endif  // STRATA_CLIENT_REPORT_H_
