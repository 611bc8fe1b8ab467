#include "core/train/train_config.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "core/base/proto_json.h"
#include "core/data/class_labels.h"

namespace strata {
namespace {

absl::Status Invalid(absl::string_view field, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("config field ", field, ": ", why));
}

bool IsOutputActivation(v1::Activation a) { return a == v1::LINEAR || a == v1::SIGMOID; }

absl::Status ResolveOptimizer(v1::OptimizerConfig* o) {
  if (o->kind() == v1::OptimizerConfig::KIND_UNSPECIFIED) o->set_kind(v1::OptimizerConfig::ADAM);
  if (!v1::OptimizerConfig::Kind_IsValid(o->kind())) return Invalid("optimizer.kind", "unknown");
  if (!o->has_learning_rate()) {
    o->set_learning_rate(o->kind() == v1::OptimizerConfig::SGD ? 1e-2f : 1e-3f);
  }
  if (!o->has_momentum()) o->set_momentum(0.9f);
  if (!o->has_beta1()) o->set_beta1(0.9f);
  if (!o->has_beta2()) o->set_beta2(0.999f);
  if (!o->has_rho()) o->set_rho(0.99f);
  if (!o->has_epsilon()) o->set_epsilon(1e-8f);
  if (!(o->learning_rate() > 0) || !std::isfinite(o->learning_rate())) {
    return Invalid("optimizer.learning_rate", "must be positive");
  }
  if (!(o->momentum() >= 0 && o->momentum() < 1))
    return Invalid("optimizer.momentum", "must be in [0, 1)");
  if (!(o->beta1() >= 0 && o->beta1() < 1)) return Invalid("optimizer.beta1", "must be in [0, 1)");
  if (!(o->beta2() >= 0 && o->beta2() < 1)) return Invalid("optimizer.beta2", "must be in [0, 1)");
  if (!(o->rho() >= 0 && o->rho() < 1)) return Invalid("optimizer.rho", "must be in [0, 1)");
  if (!(o->epsilon() > 0)) return Invalid("optimizer.epsilon", "must be positive");
  if (o->nesterov() && o->kind() != v1::OptimizerConfig::SGD) {
    return Invalid("optimizer.nesterov", "only applies to SGD");
  }
  if (o->schedule() == v1::OptimizerConfig::SCHEDULE_UNSPECIFIED) {
    o->set_schedule(v1::OptimizerConfig::CONSTANT);
  }
  if (!v1::OptimizerConfig::Schedule_IsValid(o->schedule())) {
    return Invalid("optimizer.schedule", "unknown");
  }
  if (!o->has_final_learning_rate()) o->set_final_learning_rate(o->learning_rate() / 100);
  if (!(o->final_learning_rate() >= 0 && o->final_learning_rate() <= o->learning_rate())) {
    return Invalid("optimizer.final_learning_rate", "must be in [0, learning_rate]");
  }
  return absl::OkStatus();
}

// The steps of ResolveTrainConfig, in the order its errors are checked:
// each fills in its fields' defaults and validates them.

absl::Status ResolveEncoderWidths(int input_dim, v1::TrainConfig* config) {
  v1::TrainConfig& c = *config;
  if (c.encoder_widths_size() == 0) {
    c.add_encoder_widths(std::max(1, (input_dim + 1) / 2));
    c.add_encoder_widths(std::max(1, (input_dim + 3) / 4));
  }
  for (int i = 0; i < c.encoder_widths_size(); ++i) {
    if (c.encoder_widths(i) < 1 || c.encoder_widths(i) > kMaxLayerWidth) {
      return Invalid(
          absl::StrCat("encoder_widths[", i, "]"),
          absl::StrCat("must be in [1, ", kMaxLayerWidth, "], got ", c.encoder_widths(i)));
    }
  }
  if (const int64_t parameters = WeightCount(input_dim, c.encoder_widths(), c.tied_weights());
      parameters > kMaxParameters) {
    return Invalid("encoder_widths", absl::StrCat("the network would have ", parameters,
                                                  " weights; the limit is ", kMaxParameters));
  }
  return absl::OkStatus();
}

// Hidden, code and output activations; the loss's default is set here
// because it picks the output activation's.
absl::Status ResolveActivations(v1::TrainConfig* config) {
  v1::TrainConfig& c = *config;
  const int hidden = c.encoder_widths_size() - 1;
  if (c.hidden_activations_size() == 0) c.add_hidden_activations(v1::RELU);
  if (c.hidden_activations_size() != 1 && c.hidden_activations_size() != hidden) {
    return Invalid("hidden_activations",
                   absl::StrCat("has ", c.hidden_activations_size(),
                                " entries; give one for all hidden layers or one per hidden "
                                "layer (",
                                hidden, ")"));
  }
  for (int i = 0; i < c.hidden_activations_size(); ++i) {
    if (c.hidden_activations(i) == v1::ACTIVATION_UNSPECIFIED) {
      return Invalid(absl::StrCat("hidden_activations[", i, "]"), "is unspecified");
    }
  }
  if (c.hidden_activations_size() == 1 && hidden > 1) {
    const v1::Activation a = c.hidden_activations(0);
    for (int i = 1; i < hidden; ++i) c.add_hidden_activations(a);
  }
  if (hidden == 0) c.clear_hidden_activations();
  if (c.code_activation() == v1::ACTIVATION_UNSPECIFIED) c.set_code_activation(v1::LINEAR);
  if (c.loss() == v1::LOSS_UNSPECIFIED) c.set_loss(v1::MSE);
  if (c.output_activation() == v1::ACTIVATION_UNSPECIFIED) {
    c.set_output_activation(c.loss() == v1::BCE ? v1::SIGMOID : v1::LINEAR);
  }
  if (!IsOutputActivation(c.output_activation())) {
    return Invalid("output_activation", "must be linear or sigmoid");
  }
  if (!c.has_leaky_relu_slope()) c.set_leaky_relu_slope(0.01f);
  if (!(c.leaky_relu_slope() >= 0 && c.leaky_relu_slope() < 1)) {
    return Invalid("leaky_relu_slope", "must be in [0, 1)");
  }
  return absl::OkStatus();
}

absl::Status ResolveBatchNorm(v1::TrainConfig* config) {
  v1::TrainConfig& c = *config;
  if (!v1::BatchNorm_IsValid(c.batch_norm())) return Invalid("batch_norm", "is unknown");
  if (!c.has_batch_norm_momentum()) c.set_batch_norm_momentum(0.1f);
  if (!(c.batch_norm_momentum() > 0 && c.batch_norm_momentum() <= 1)) {
    return Invalid("batch_norm_momentum", "must be in (0, 1]");
  }
  if (c.batch_norm() == v1::BEFORE_ACTIVATION && c.tied_weights()) {
    return Invalid("batch_norm",
                   "BEFORE_ACTIVATION cannot be folded into tied weights at publish: use "
                   "AFTER_ACTIVATION, or untied weights");
  }
  return absl::OkStatus();
}

// The scaler and the validation split.
absl::Status ResolveData(v1::TrainConfig* config) {
  v1::TrainConfig& c = *config;
  if (c.scaler() == v1::SCALER_KIND_UNSPECIFIED) {
    c.set_scaler(c.loss() == v1::BCE ? v1::MINMAX : v1::STANDARD);
  }
  if (!c.has_validation_fraction()) c.set_validation_fraction(0.1f);
  if (!(c.validation_fraction() >= 0 && c.validation_fraction() <= 0.9f)) {
    return Invalid("validation_fraction", "must be in [0, 0.9]");
  }
  return absl::OkStatus();
}

// The loss against the output and scaler, weight decay, dropout.
absl::Status ResolveLoss(v1::TrainConfig* config) {
  v1::TrainConfig& c = *config;
  if (c.loss() == v1::BCE) {
    if (c.output_activation() != v1::SIGMOID) {
      return Invalid("loss", "BCE needs output_activation sigmoid (outputs in [0, 1])");
    }
    if (c.scaler() == v1::STANDARD) {
      return Invalid("loss",
                     "BCE needs inputs in [0, 1]: use scaler minmax (or identity on data "
                     "already in [0, 1]), not standard");
    }
  }
  if (!(c.weight_decay() >= 0)) return Invalid("weight_decay", "must be >= 0");
  if (!(c.dropout() >= 0 && c.dropout() < 1)) return Invalid("dropout", "must be in [0, 1)");
  return absl::OkStatus();
}

absl::Status ResolveNoise(v1::NoiseConfig* noise) {
  if (noise->kind() == v1::NoiseConfig::KIND_UNSPECIFIED) noise->set_kind(v1::NoiseConfig::NONE);
  if (!noise->has_stddev()) noise->set_stddev(0.1f);
  if (!noise->has_mask_fraction()) noise->set_mask_fraction(0.2f);
  if (!(noise->stddev() >= 0)) return Invalid("noise.stddev", "must be >= 0");
  if (!(noise->mask_fraction() >= 0 && noise->mask_fraction() < 1)) {
    return Invalid("noise.mask_fraction", "must be in [0, 1)");
  }
  return absl::OkStatus();
}

absl::Status ResolveSparsity(v1::TrainConfig* config) {
  v1::TrainConfig& c = *config;
  v1::SparsityConfig* sparsity = c.mutable_sparsity();
  if (!sparsity->has_target()) sparsity->set_target(0.05f);
  if (!(sparsity->weight() >= 0)) return Invalid("sparsity.weight", "must be >= 0");
  if (!(sparsity->target() > 0 && sparsity->target() < 1)) {
    return Invalid("sparsity.target", "must be in (0, 1)");
  }
  if (sparsity->weight() > 0) {
    bool any_sigmoid = c.code_activation() == v1::SIGMOID;
    for (int a : c.hidden_activations()) any_sigmoid |= a == v1::SIGMOID;
    if (!any_sigmoid) {
      return Invalid("sparsity.weight",
                     "the KL sparsity penalty needs activations in (0, 1): make at least one "
                     "hidden or the code activation sigmoid");
    }
  }
  return absl::OkStatus();
}

// Batch size, epochs and gradient clipping.
absl::Status ResolveBatchesAndEpochs(v1::TrainConfig* config) {
  v1::TrainConfig& c = *config;
  if (!c.has_batch_size()) c.set_batch_size(64);
  if (c.batch_size() < 1) {
    return Invalid("batch_size", absl::StrCat("must be at least 1, got ", c.batch_size()));
  }
  if (c.batch_norm() != v1::BATCH_NORM_NONE && c.batch_size() < 2) {
    return Invalid("batch_size",
                   "must be at least 2 with batch_norm: one row has no batch "
                   "statistics");
  }
  if (c.pretrain_epochs() < 0 || c.pretrain_epochs() > kMaxEpochs) {
    return Invalid("pretrain_epochs", absl::StrCat("must be in [0, ", kMaxEpochs, "]"));
  }
  if (!c.has_finetune_epochs()) c.set_finetune_epochs(50);
  if (c.finetune_epochs() < 0 || c.finetune_epochs() > kMaxEpochs) {
    return Invalid("finetune_epochs", absl::StrCat("must be in [0, ", kMaxEpochs, "]"));
  }
  if (!(c.grad_clip_norm() >= 0)) return Invalid("grad_clip_norm", "must be >= 0");
  return absl::OkStatus();
}

absl::Status ResolveEarlyStopping(v1::EarlyStoppingConfig* es) {
  if (!es->has_patience()) es->set_patience(20);
  if (es->patience() < 0) return Invalid("early_stopping.patience", "must be >= 0");
  if (!(es->min_delta() >= 0)) return Invalid("early_stopping.min_delta", "must be >= 0");
  return absl::OkStatus();
}

absl::Status ResolveReduceLrOnPlateau(v1::ReduceLrOnPlateauConfig* rl) {
  if (!rl->has_patience()) rl->set_patience(10);
  if (!rl->has_factor()) rl->set_factor(0.5f);
  if (!rl->has_min_learning_rate()) rl->set_min_learning_rate(1e-6f);
  if (rl->patience() < 0) return Invalid("reduce_lr_on_plateau.patience", "must be >= 0");
  if (!(rl->factor() > 0 && rl->factor() < 1)) {
    return Invalid("reduce_lr_on_plateau.factor", "must be in (0, 1)");
  }
  if (!(rl->min_learning_rate() >= 0)) {
    return Invalid("reduce_lr_on_plateau.min_learning_rate", "must be >= 0");
  }
  return absl::OkStatus();
}

absl::Status ResolveAnomaly(v1::AnomalyConfig* anomaly) {
  if (anomaly->has_contamination()) {
    if (!(anomaly->contamination() >= 0 && anomaly->contamination() < 0.5)) {
      return Invalid("anomaly.contamination", "must be in [0, 0.5)");
    }
    anomaly->set_threshold_percentile(100.0 * (1.0 - anomaly->contamination()));
  }
  if (anomaly->has_ensemble_size() &&
      !(anomaly->ensemble_size() >= 1 && anomaly->ensemble_size() <= kMaxEnsembleSize)) {
    return Invalid("anomaly.ensemble_size", absl::StrCat("must be in [1, ", kMaxEnsembleSize, "]"));
  }
  if (!anomaly->has_threshold_percentile()) anomaly->set_threshold_percentile(99.0);
  if (!(anomaly->threshold_percentile() > 0 && anomaly->threshold_percentile() <= 100)) {
    return Invalid("anomaly.threshold_percentile", "must be in (0, 100]");
  }
  return absl::OkStatus();
}

// The supervised phase's epochs, the head's own first (FULL only).
int64_t SupervisedEpochs(const v1::SupervisedConfig& sc) {
  const bool head_first = sc.mode() != v1::SupervisedConfig::FROZEN_ENCODER;
  return int64_t{sc.epochs()} + (head_first ? sc.head_epochs() : 0);
}

// `pretrained`: the network has unsupervised epochs before the supervised
// phase, whose full fine-tuning then starts from a trained head at a tenth
// of the optimizer's rate (docs/training.md "Few labels").
absl::Status ResolveSupervised(float optimizer_learning_rate, bool pretrained,
                               v1::SupervisedConfig* sc) {
  if (sc->mode() == v1::SupervisedConfig::MODE_UNSPECIFIED) {
    sc->set_mode(v1::SupervisedConfig::FULL);
  }
  if (!v1::SupervisedConfig::Mode_IsValid(sc->mode())) {
    return Invalid("supervised.mode", "must be FULL or FROZEN_ENCODER");
  }
  if (!sc->has_reconstruction_weight()) sc->set_reconstruction_weight(1.0f);
  if (!(sc->reconstruction_weight() >= 0 && std::isfinite(sc->reconstruction_weight()))) {
    return Invalid("supervised.reconstruction_weight", "must be a finite number >= 0");
  }
  if (!sc->has_epochs()) sc->set_epochs(50);
  if (sc->epochs() < 1 || sc->epochs() > kMaxEpochs) {
    return Invalid("supervised.epochs", absl::StrCat("must be in [1, ", kMaxEpochs, "]"));
  }
  const bool full = sc->mode() == v1::SupervisedConfig::FULL;
  if (!sc->has_head_epochs()) sc->set_head_epochs(pretrained && full ? kDefaultHeadEpochs : 0);
  if (sc->head_epochs() < 0 || sc->head_epochs() > kMaxEpochs) {
    return Invalid("supervised.head_epochs", absl::StrCat("must be in [0, ", kMaxEpochs, "]"));
  }
  // A tenth of the rate when full fine-tuning starts from a pretrained
  // encoder and a trained head.
  const bool head_first = pretrained && full && sc->head_epochs() > 0;
  if (!sc->has_learning_rate()) {
    sc->set_learning_rate(head_first ? optimizer_learning_rate / 10 : optimizer_learning_rate);
  }
  if (!(sc->learning_rate() > 0 && std::isfinite(sc->learning_rate()))) {
    return Invalid("supervised.learning_rate", "must be a finite number > 0");
  }
  if (!sc->has_reconstruct_unlabelled()) sc->set_reconstruct_unlabelled(false);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::TrainConfig> ParseTrainConfigJson(absl::string_view json) {
  v1::TrainConfig config;
  // Also refuses null, and [] at the top (encoder_widths: []), which would
  // quietly become the default, as an explicit 0 is refused.
  if (absl::Status s = JsonToProto(json, "training config", &config); !s.ok()) return s;
  return config;
}

std::string TrainConfigToJson(const v1::TrainConfig& config) { return ProtoToJson(config); }

absl::StatusOr<v1::TrainConfig> ResolveTrainConfig(const v1::TrainConfig& config, int input_dim) {
  if (input_dim < 1) {
    return absl::InvalidArgumentError(absl::StrCat("the data has ", input_dim, " features"));
  }
  v1::TrainConfig c = config;
  // Architecture.
  if (absl::Status s = ResolveEncoderWidths(input_dim, &c); !s.ok()) return s;
  if (absl::Status s = ResolveActivations(&c); !s.ok()) return s;
  if (absl::Status s = ResolveBatchNorm(&c); !s.ok()) return s;
  // Data.
  if (absl::Status s = ResolveData(&c); !s.ok()) return s;
  // Objective.
  if (absl::Status s = ResolveLoss(&c); !s.ok()) return s;
  if (absl::Status s = ResolveNoise(c.mutable_noise()); !s.ok()) return s;
  if (absl::Status s = ResolveSparsity(&c); !s.ok()) return s;
  // Optimisation.
  if (absl::Status s = ResolveOptimizer(c.mutable_optimizer()); !s.ok()) return s;
  if (absl::Status s = ResolveBatchesAndEpochs(&c); !s.ok()) return s;
  if (absl::Status s = ResolveEarlyStopping(c.mutable_early_stopping()); !s.ok()) return s;
  if (absl::Status s = ResolveReduceLrOnPlateau(c.mutable_reduce_lr_on_plateau()); !s.ok()) {
    return s;
  }

  if (absl::Status s = ResolveAnomaly(c.mutable_anomaly()); !s.ok()) return s;
  if (!c.has_drift_bins()) c.set_drift_bins(10);
  if (c.drift_bins() < 2 || c.drift_bins() > 50) {
    return Invalid("drift_bins", absl::StrCat("must be in [2, 50], got ", c.drift_bins()));
  }

  // The supervised phase's learning rate follows the optimizer's.
  const float learning_rate = c.optimizer().learning_rate();
  const bool pretrained = c.pretrain_epochs() > 0 || c.finetune_epochs() > 0;
  if (absl::Status s = ResolveSupervised(learning_rate, pretrained, c.mutable_supervised());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateClassNames(DeclaredClassNames(c)); !s.ok()) return s;

  if (!c.has_seed()) c.set_seed(1);
  if (c.threads() < 0 || c.threads() > kMaxThreads) {
    return Invalid("threads", absl::StrCat("must be in [0, ", kMaxThreads, "]"));
  }
  return c;
}

int DefaultEnsembleSize(int64_t rows, int input_dim) {
  // rows x input_dim <= 10M, without the product (hostile sizes overflow it).
  constexpr int64_t kMaxValues = 10'000'000;
  return input_dim <= 0 || rows <= kMaxValues / input_dim ? 5 : 1;
}

int EnsembleSize(const v1::TrainConfig& resolved, int64_t rows, int input_dim) {
  return resolved.anomaly().has_ensemble_size() ? resolved.anomaly().ensemble_size()
                                                : DefaultEnsembleSize(rows, input_dim);
}

int TrainedNetworks(const v1::TrainConfig& resolved, int64_t rows, int input_dim) {
  const bool unsupervised = resolved.pretrain_epochs() > 0 || resolved.finetune_epochs() > 0;
  return unsupervised ? EnsembleSize(resolved, rows, input_dim) : 1;
}

int PlannedEpochs(const v1::TrainConfig& resolved, int networks, bool labelled) {
  // In 64 bits: a million pretraining epochs for each of thousands of
  // (narrow) layers passes the config's limits and overflowed int.
  const int64_t depth = resolved.encoder_widths_size();
  const int64_t each = int64_t{resolved.pretrain_epochs()} * depth + resolved.finetune_epochs();
  const int64_t planned =
      each * std::max(networks, 1) + (labelled ? SupervisedEpochs(resolved.supervised()) : 0);
  return static_cast<int>(std::min<int64_t>(planned, std::numeric_limits<int>::max()));
}

int64_t MinTrainingRows(const v1::TrainConfig& resolved) {
  const int64_t code_width = resolved.encoder_widths_size() > 0
                                 ? resolved.encoder_widths(resolved.encoder_widths_size() - 1)
                                 : 1;
  return std::max<int64_t>(50, 2 * code_width);
}

absl::Status CheckTrainingEpochs(const v1::TrainConfig& resolved, bool labelled) {
  if (resolved.pretrain_epochs() > 0 || resolved.finetune_epochs() > 0) return absl::OkStatus();
  if (labelled) {
    // The supervised phase alone trains one network: an ensemble asked for
    // would silently be one.
    if (resolved.anomaly().has_ensemble_size() && resolved.anomaly().ensemble_size() > 1) {
      return Invalid("anomaly.ensemble_size",
                     absl::StrCat(resolved.anomaly().ensemble_size(),
                                  " networks need unsupervised epochs (pretrain_epochs or "
                                  "finetune_epochs); with the supervised phase alone one network "
                                  "trains: leave it out or set it to 1"));
    }
    return absl::OkStatus();
  }
  return Invalid("finetune_epochs",
                 "pretrain_epochs and finetune_epochs are both 0, and the rows have no class "
                 "labels to train on instead");
}

absl::Status CheckTrainingRows(const v1::TrainConfig& resolved, int64_t rows) {
  const int64_t min_rows = MinTrainingRows(resolved);
  if (rows >= min_rows) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "the training data has ", rows, " rows; at least ", min_rows,
      " (max(50, 2 x code width)) are needed to calibrate an anomaly threshold and the code's "
      "distribution"));
}

v1::Architecture ArchitectureFromConfig(const v1::TrainConfig& resolved, int input_dim) {
  v1::Architecture arch;
  arch.set_input_dim(input_dim);
  *arch.mutable_encoder_widths() = resolved.encoder_widths();
  for (int a : resolved.hidden_activations()) {
    arch.add_encoder_activations(static_cast<v1::Activation>(a));
  }
  arch.add_encoder_activations(resolved.code_activation());
  arch.set_output_activation(resolved.output_activation());
  arch.set_tied_weights(resolved.tied_weights());
  arch.set_leaky_relu_slope(resolved.leaky_relu_slope());
  arch.set_batch_norm(resolved.batch_norm());
  arch.set_residual(resolved.residual());
  return arch;
}

}  // namespace strata
