// Model: a trained stacked autoencoder with the scaler fitted on its training
// data and what is known about its training. This is what gets stored,
// loaded and served; it speaks in the records' original units.
//
//   absl::StatusOr<Matrix> code = model.Encode(batch, model.depth());
//   absl::StatusOr<Matrix> recon = model.Reconstruct(batch);
//   absl::StatusOr<Matrix> errors = model.FeatureErrors(batch, ScoreMetric::kMeanSquared);
//   absl::StatusOr<Matrix> scored = model.Score(batch, model.default_metric());
//
// Immutable after construction; thread-safe.
#ifndef STRATA_CORE_MODEL_MODEL_H_
#define STRATA_CORE_MODEL_MODEL_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/data/scaler.h"
#include "core/nn/classifier_head.h"
#include "core/nn/matrix.h"
#include "core/nn/stacked_autoencoder.h"
#include "core/scoring/anomaly.h"
#include "core/scoring/ensemble_score.h"
#include "strata/v1/model.pb.h"

namespace strata {

// Everything about a model except its parameters.
struct ModelInfo {
  std::vector<std::string> feature_names;  // One per input feature.
  v1::TrainConfig config;                  // Resolved: every default filled in.
  std::vector<v1::EpochRecord> history;
  v1::TrainingSummary summary;
  int64_t created_unix_micros = 0;
  std::string strata_version;
  // Thresholds and score distributions from the training rows.
  v1::AnomalyCalibration calibration;
  // What the training rows looked like, for drift monitoring.
  v1::DriftBaseline drift_baseline;
  // The classifier head's classes, in output order; empty without a head.
  std::vector<std::string> class_names;
};

class Model;

// What serving relies on, for a model from a file or fresh from training:
// finite weights and biases, a scaler of input_dim finite entries with
// positive scales, a calibration that passes ValidateCalibration and a
// drift baseline that passes ValidateDriftBaseline for the network's
// widths; a classifier head (if any) of finite code-width x classes weights
// with as many distinct, non-empty class names and class proportions.
// InvalidArgument naming what is wrong. Shapes of the network itself are
// the constructor's REQUIRES (StackedAutoencoder::FromParameters checks
// them).
absl::Status ValidateModel(const Model& model);

class Model {
 public:
  // REQUIRES: scaler.dim() == autoencoder.input_dim() and
  // info.feature_names empty or of that size (empty gets f0, f1, ...).
  Model(StackedAutoencoder autoencoder, Scaler scaler, ModelInfo info);
  // With the ensemble's other networks (core/scoring/ensemble_score.h), each of
  // autoencoder's architecture.
  Model(StackedAutoencoder autoencoder, Scaler scaler, ModelInfo info,
        std::vector<StackedAutoencoder> ensemble);
  // With a classifier head on the code (supervised fine-tuning), whose
  // classes info.class_names names.
  Model(StackedAutoencoder autoencoder, Scaler scaler, ModelInfo info,
        std::vector<StackedAutoencoder> ensemble, std::optional<ClassifierHead> classifier);

  const StackedAutoencoder& autoencoder() const { return autoencoder_; }
  const Scaler& scaler() const { return scaler_; }
  // The ensemble score's networks besides autoencoder() (empty for models
  // trained before it, or with anomaly.ensemble_size 1).
  const std::vector<StackedAutoencoder>& ensemble() const { return ensemble_; }
  const ModelInfo& info() const { return info_; }
  // A copy of this model with `info` in place of its own (the same
  // networks, scaler and head): a summary amended before publishing.
  Model WithInfo(ModelInfo info) const;
  // The classifier head, for models trained with class labels.
  const std::optional<ClassifierHead>& classifier() const { return classifier_; }
  int input_dim() const { return autoencoder_.input_dim(); }
  int depth() const { return autoencoder_.depth(); }

  // InvalidArgument unless 1 <= layer <= depth().
  absl::Status CheckLayer(int layer) const;
  // Features of encoder layer `layer` (1 = h1 ... depth() = code) for raw rows.
  absl::StatusOr<Matrix> Encode(const Matrix& raw, int layer) const;
  // Reconstructions of raw rows, in the rows' original units (and the code
  // layer's features, from the same pass, when `code` is not null).
  absl::StatusOr<Matrix> Reconstruct(const Matrix& raw, Matrix* code = nullptr) const;
  // Per row and feature: squared or absolute reconstruction error in scaled
  // space (where every feature weighs the same); see anomaly.h.
  absl::StatusOr<Matrix> FeatureErrors(const Matrix& raw, ScoreMetric metric,
                                       Matrix* code = nullptr) const;
  // Per-feature errors as FeatureErrors gives them, then one more column:
  // each row's score under `metric`. FailedPrecondition for a code metric on
  // a model trained before the code scores, and for kEnsemble on one trained
  // before the ensemble score.
  absl::StatusOr<Matrix> Score(const Matrix& raw, ScoreMetric metric, Matrix* code = nullptr) const;
  // Class probabilities (rows x classes, in info().class_names order) of
  // raw rows; the code layer's features too when `code` is not null.
  // FailedPrecondition for a model without a classifier head.
  absl::StatusOr<Matrix> Predict(const Matrix& raw, Matrix* code = nullptr) const;
  // What an unspecified metric means for this model: kEnsemble; kCombined
  // for models trained before it; kMeanSquared for models without code
  // scores.
  ScoreMetric default_metric() const;
  // The calibrated score distribution of a metric.
  const v1::ScoreDistribution& score_distribution(ScoreMetric metric) const;

 private:
  const StackedAutoencoder autoencoder_;
  const Scaler scaler_;
  const ModelInfo info_;
  const std::vector<StackedAutoencoder> ensemble_;
  const std::optional<ClassifierHead> classifier_;
  // The ensemble calibration's feature tails, laid out for scoring (empty
  // when the calibration has none, or none that ValidateModel would pass).
  FeatureTailIndex tail_index_;
};

}  // namespace strata

#endif  // STRATA_CORE_MODEL_MODEL_H_
