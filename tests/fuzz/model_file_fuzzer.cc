// Fuzzes the model-artifact loader and what a loaded model is served with:
// any bytes (a model file, or a bare artifact) are a model, or an error; a
// model that loads must encode, score with every metric it has, place its
// scores in its quantile tables, and feed and read a drift monitor, without
// a sanitizer report.
#include <cstddef>
#include <cstdint>

#include "absl/strings/match.h"
#include "core/model/model_io.h"
#include "core/scoring/anomaly.h"
#include "core/scoring/drift.h"

namespace {

// Rows every model can take: zeros, the scaler's offsets (scaled 0), and
// points far out on either side (scaled +-1000), so that scores reach both
// ends of the tables and values fall outside the drift bins.
strata::Matrix ProbeRows(const strata::Model& model) {
  const strata::Scaler& s = model.scaler();
  strata::Matrix rows(4, model.input_dim());
  rows.row(0).setZero();
  rows.row(1) = s.offset();
  rows.row(2) = s.offset() + 1000 * s.scale();
  rows.row(3) = s.offset() - 1000 * s.scale();
  return rows;
}

void Exercise(const strata::Model& model) {
  using strata::ScoreMetric;
  strata::Matrix rows = ProbeRows(model);
  // Offsets + 1000 x scale can overflow float; the server refuses such rows.
  if (!rows.allFinite()) rows = strata::Matrix::Zero(1, model.input_dim());
  for (int layer = 1; layer <= model.depth(); ++layer) (void)model.Encode(rows, layer);
  (void)model.Reconstruct(rows);
  for (ScoreMetric metric : {ScoreMetric::kMeanSquared, ScoreMetric::kMeanAbsolute,
                             ScoreMetric::kCodeDistance, ScoreMetric::kCombined,
                             ScoreMetric::kEnsemble}) {
    strata::Matrix code;
    absl::StatusOr<strata::Matrix> scored = model.Score(rows, metric, &code);
    if (!scored.ok()) continue;
    const strata::v1::ScoreDistribution& d = model.score_distribution(metric);
    for (Eigen::Index r = 0; r < scored->rows(); ++r) {
      (void)strata::PercentileOfScore(d, (*scored)(r, scored->cols() - 1));
    }
  }
  // As serving does: the MSE scores and the codes of one pass.
  strata::Matrix code;
  absl::StatusOr<strata::Matrix> mse = model.Score(rows, ScoreMetric::kMeanSquared, &code);
  if (!mse.ok()) return;
  const Eigen::VectorXf row_mse = mse->col(mse->cols() - 1);
  strata::DriftMonitor monitor(model.info().drift_baseline, model.scaler(),
                               model.info().feature_names, model.info().calibration,
                               /*window_rows=*/4);
  for (int i = 0; i < 3; ++i) {  // past a half-window, so that it rotates
    monitor.Observe(rows, &row_mse, code.cols() > 0 ? &code : nullptr);
  }
  monitor.Observe(rows, nullptr, nullptr);
  (void)monitor.Figures();
  (void)monitor.Cumulative();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::unique_ptr<strata::Model>> model = strata::ParseModel(bytes);
  // A mutated model file almost never passes its checksum, which would
  // leave the artifact's checks unfuzzed: input without the magic is an
  // artifact itself (the seed trained_artifact.pb is a model file's payload).
  if (!model.ok() && !absl::StartsWith(bytes, "\x89STRATA")) {
    strata::v1::ModelArtifact artifact;
    if (!artifact.ParseFromArray(data, static_cast<int>(size))) return 0;
    model = strata::ModelFromArtifact(artifact);
  }
  if (model.ok()) Exercise(**model);
  return 0;
}
