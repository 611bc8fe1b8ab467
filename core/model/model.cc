#include "core/model/model.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "core/data/class_labels.h"
#include "core/scoring/drift.h"
#include "core/scoring/ensemble_score.h"

namespace strata {
namespace {

ModelInfo WithFeatureNames(ModelInfo info, int dim) {
  if (info.feature_names.empty()) {
    for (int i = 0; i < dim; ++i) info.feature_names.push_back(absl::StrCat("f", i));
  }
  return info;
}

// The first layer of `net` with a non-finite weight, bias or folded
// normalisation ("encoder layer 2"), or empty.
std::string NonFiniteLayer(const StackedAutoencoder& net) {
  for (int l = 0; l < net.num_layers(); ++l) {
    const Parameters& p = net.parameters();
    if (!p.weights[l].allFinite() || !p.biases[l].allFinite() || !p.out_scale[l].allFinite() ||
        !p.out_shift[l].allFinite()) {
      return absl::StrCat(l < net.depth() ? "encoder" : "decoder", " layer ",
                          l < net.depth() ? l + 1 : l - net.depth() + 1);
    }
  }
  return "";
}

absl::Status ValidateClassifier(const Model& model) {
  const std::vector<std::string>& names = model.info().class_names;
  const int proportions = model.info().drift_baseline.class_proportions_size();
  if (!model.classifier().has_value()) {
    if (!names.empty() || proportions != 0) {
      return absl::InvalidArgumentError(
          "the model names classes (or their training shares) but has no classifier head");
    }
    return absl::OkStatus();
  }
  const ClassifierHead& head = *model.classifier();
  const int classes = head.classes();
  if (classes < 2 || classes > kMaxClasses ||
      head.weights.rows() != model.autoencoder().code_dim() || head.weights.cols() != classes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the classifier head is ", head.weights.rows(), "x", head.weights.cols(),
                     " with ", classes, " biases; it needs code width (",
                     model.autoencoder().code_dim(), ") x classes (2 to ", kMaxClasses, ")"));
  }
  if (!head.weights.allFinite() || !head.bias.allFinite()) {
    return absl::InvalidArgumentError("the classifier head has non-finite parameters");
  }
  if (static_cast<int>(names.size()) != classes || proportions != classes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the classifier head has ", classes, " classes but ", names.size(),
                     " class names and ", proportions, " training class shares"));
  }
  if (absl::Status s = ValidateClassNames(names); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("the classifier head's classes: ", s.message()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateModel(const Model& model) {
  const StackedAutoencoder& net = model.autoencoder();
  if (net.architecture().batch_norm() != v1::BATCH_NORM_NONE) {
    return absl::InvalidArgumentError(
        "the architecture asks for batch normalisation with running statistics; a model holds "
        "it folded into its layers");
  }
  if (const std::string layer = NonFiniteLayer(net); !layer.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(layer, " has non-finite parameters"));
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
  for (size_t m = 0; m < model.ensemble().size(); ++m) {
    if (const std::string layer = NonFiniteLayer(model.ensemble()[m]); !layer.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("ensemble network ", m + 2, " has non-finite parameters in ", layer));
    }
  }
  const v1::AnomalyCalibration& c = model.info().calibration;
  if (HasEnsembleScore(c) || !model.ensemble().empty()) {
    if (absl::Status s =
            ValidateEnsembleCalibration(c.ensemble(), 1 + static_cast<int>(model.ensemble().size()),
                                        net.input_dim(), net.code_dim());
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = ValidateClassifier(model); !s.ok()) return s;
  return ValidateDriftBaseline(model.info().drift_baseline, net.input_dim(), net.code_dim());
}

Model::Model(StackedAutoencoder autoencoder, Scaler scaler, ModelInfo info)
    : Model(std::move(autoencoder), std::move(scaler), std::move(info), {}) {}

Model::Model(StackedAutoencoder autoencoder, Scaler scaler, ModelInfo info,
             std::vector<StackedAutoencoder> ensemble)
    : Model(std::move(autoencoder), std::move(scaler), std::move(info), std::move(ensemble),
            std::nullopt) {}

Model::Model(StackedAutoencoder autoencoder, Scaler scaler, ModelInfo info,
             std::vector<StackedAutoencoder> ensemble, std::optional<ClassifierHead> classifier)
    : autoencoder_(std::move(autoencoder)),
      scaler_(std::move(scaler)),
      info_(WithFeatureNames(std::move(info), autoencoder_.input_dim())),
      ensemble_(std::move(ensemble)),
      classifier_(std::move(classifier)) {
  if (HasEnsembleScore(info_.calibration)) {
    absl::StatusOr<FeatureTailIndex> index =
        FeatureTailIndex::Create(info_.calibration.ensemble().tails(), autoencoder_.input_dim());
    // Invalid tails leave the index empty; ValidateModel refuses the model.
    if (index.ok()) tail_index_ = *std::move(index);
  }
}

Model Model::WithInfo(ModelInfo info) const {
  return Model(autoencoder_, scaler_, std::move(info), ensemble_, classifier_);
}

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
  const bool ensemble = metric == ScoreMetric::kEnsemble;
  if (ensemble && !HasEnsembleScore(info_.calibration)) {
    return absl::FailedPreconditionError(
        "this model version was trained before the ensemble score existed: score it with "
        "COMBINED (its default) or another metric, or train a new version");
  }
  // Tails the index could not take (a model that skipped ValidateModel)
  // would add nothing to every score: refuse instead.
  if (ensemble && tail_index_.features() != input_dim()) {
    return absl::FailedPreconditionError(
        "the ensemble calibration's feature tails do not fit this model: validate it");
  }
  if (absl::Status s = CheckBatch(raw, input_dim()); !s.ok()) return s;
  Matrix own_code;
  if (code == nullptr && (UsesCode(metric) || ensemble)) code = &own_code;
  const Matrix scaled = scaler_.Transform(raw);
  const Matrix errors = ScaledFeatureErrors(autoencoder_, scaled, metric, code);
  Matrix out(errors.rows(), errors.cols() + 1);
  out.leftCols(errors.cols()) = errors;
  if (ensemble) {
    std::vector<Matrix> codes = {*code};
    for (const StackedAutoencoder& net : ensemble_) codes.push_back(net.Encode(scaled, depth()));
    out.col(errors.cols()) =
        EnsembleScores(info_.calibration.ensemble(), tail_index_, codes, scaled);
  } else {
    out.col(errors.cols()) =
        RowScores(info_.calibration, metric, errors, code != nullptr ? *code : Matrix());
  }
  return out;
}

absl::StatusOr<Matrix> Model::Predict(const Matrix& raw, Matrix* code) const {
  if (!classifier_.has_value()) {
    return absl::FailedPreconditionError(
        "this model version has no classifier head: train one with class labels "
        "(label_column or class_labels) to predict classes");
  }
  absl::StatusOr<Matrix> encoded = Encode(raw, depth());
  if (!encoded.ok()) return encoded.status();
  Matrix probabilities = classifier_->Probabilities(*encoded);
  if (code != nullptr) *code = *std::move(encoded);
  return probabilities;
}

ScoreMetric Model::default_metric() const { return DefaultMetric(info_.calibration); }

const v1::ScoreDistribution& Model::score_distribution(ScoreMetric metric) const {
  return ScoreDistributionOf(info_.calibration, metric);
}

}  // namespace strata
