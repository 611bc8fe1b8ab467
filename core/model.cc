#include "core/model.h"

#include "absl/strings/str_cat.h"
#include "core/drift.h"

namespace strata {
namespace {

ModelInfo WithFeatureNames(ModelInfo info, int dim) {
  if (info.feature_names.empty()) {
    for (int i = 0; i < dim; ++i) info.feature_names.push_back(absl::StrCat("f", i));
  }
  return info;
}

}  // namespace

absl::Status ValidateModel(const Model& model) {
  const StackedAutoencoder& net = model.autoencoder();
  for (int l = 0; l < net.num_layers(); ++l) {
    if (!net.parameters().weights[l].allFinite() || !net.parameters().biases[l].allFinite()) {
      return absl::InvalidArgumentError(
          absl::StrCat(l < net.depth() ? "encoder" : "decoder", " layer ",
                       l < net.depth() ? l + 1 : l - net.depth() + 1,
                       " has non-finite parameters"));
    }
  }
  const Scaler& scaler = model.scaler();
  if (scaler.dim() != net.input_dim() || !scaler.offset().allFinite() ||
      !scaler.scale().allFinite() || !(scaler.scale().array() > 0).all()) {
    return absl::InvalidArgumentError(
        "the scaler needs a finite offset and a finite positive scale per feature");
  }
  if (absl::Status s = ValidateCalibration(model.info().calibration, net.code_dim()); !s.ok()) {
    return s;
  }
  return ValidateDriftBaseline(model.info().drift_baseline, net.input_dim(), net.code_dim());
}

Model::Model(StackedAutoencoder autoencoder, Scaler scaler, ModelInfo info)
    : autoencoder_(std::move(autoencoder)),
      scaler_(std::move(scaler)),
      info_(WithFeatureNames(std::move(info), autoencoder_.input_dim())) {}

absl::Status Model::CheckLayer(int layer) const {
  if (layer < 1 || layer > depth()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "layer ", layer, " does not exist: the model has layers 1 (h1) to ", depth(), " (code)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Matrix> Model::Encode(const Matrix& raw, int layer) const {
  if (absl::Status s = CheckLayer(layer); !s.ok()) return s;
  if (absl::Status s = CheckBatch(raw, input_dim()); !s.ok()) return s;
  return autoencoder_.Encode(scaler_.Transform(raw), layer);
}

absl::StatusOr<Matrix> Model::Reconstruct(const Matrix& raw, Matrix* code) const {
  if (absl::Status s = CheckBatch(raw, input_dim()); !s.ok()) return s;
  return scaler_.InverseTransform(autoencoder_.Reconstruct(scaler_.Transform(raw), code));
}

absl::StatusOr<Matrix> Model::FeatureErrors(const Matrix& raw, ScoreMetric metric,
                                            Matrix* code) const {
  if (absl::Status s = CheckBatch(raw, input_dim()); !s.ok()) return s;
  return strata::FeatureErrors(autoencoder_, scaler_, raw, metric, code);
}

absl::StatusOr<Matrix> Model::Score(const Matrix& raw, ScoreMetric metric, Matrix* code) const {
  if (UsesCode(metric) && !HasCodeScores(info_.calibration)) {
    return absl::FailedPreconditionError(
        "this model version was trained before code-distance scores existed: score it with "
        "MEAN_SQUARED or MEAN_ABSOLUTE, or train a new version");
  }
  Matrix own_code;
  if (code == nullptr && UsesCode(metric)) code = &own_code;
  absl::StatusOr<Matrix> errors = FeatureErrors(raw, metric, code);
  if (!errors.ok()) return errors.status();
  Matrix out(errors->rows(), errors->cols() + 1);
  out.leftCols(errors->cols()) = *errors;
  out.col(errors->cols()) =
      RowScores(info_.calibration, metric, *errors, code != nullptr ? *code : Matrix());
  return out;
}

ScoreMetric Model::default_metric() const {
  return DefaultMetric(info_.calibration);
}

const v1::ScoreDistribution& Model::score_distribution(ScoreMetric metric) const {
  return ScoreDistributionOf(info_.calibration, metric);
}

}  // namespace strata
