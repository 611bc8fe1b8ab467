// The policies a training phase applies between epochs, each a small object
// the epoch loop consults (as ensmallen's callbacks): the cosine learning
// rate schedule, early stopping with the restore of the best weights, and
// the reduction of the learning rate on a plateau.
//
//   CosineLearningRate cosine(0.01f, 0.0001f, epochs);
//   EarlyStopping stopping(config.early_stopping());
//   PlateauLearningRate plateau(config.reduce_lr_on_plateau());
//   for (int epoch = 1; epoch <= epochs; ++epoch) {
//     optimizer->set_learning_rate(cosine.At(epoch));
//     ... train, then monitor a loss ...
//     if (stopping.EndEpoch(loss, net->parameters(), nullptr)) break;
//     if (auto lr = plateau.EndEpoch(loss, optimizer->learning_rate())) ...
//   }
//   stopping.RestoreBest(net->mutable_parameters(), nullptr);
//
// Internal to core/train/. Not thread-safe; one of each per phase.
#ifndef STRATA_CORE_TRAIN_EPOCH_POLICIES_H_
#define STRATA_CORE_TRAIN_EPOCH_POLICIES_H_

#include <limits>
#include <optional>

#include "core/nn/classifier_head.h"
#include "core/nn/stacked_autoencoder.h"
#include "strata/v1/train_config.pb.h"

namespace strata {
namespace train_internal {

// Anneals the learning rate from `initial` (epoch 1) towards `final` along
// half a cosine over `epochs` epochs; epoch `epochs` + 1 would reach it.
class CosineLearningRate {
 public:
  CosineLearningRate(float initial, float final, int epochs)
      : initial_(initial), final_(final), epochs_(epochs) {}

  // The rate of epoch `epoch` (1-based).
  float At(int epoch) const;

 private:
  float initial_;
  float final_;
  int epochs_;
};

// Stops a phase once `patience` epochs in a row have not lowered the
// monitored loss by more than min_delta below the best so far, and puts
// back the weights of the best epoch. With patience 0 it never stops, and
// keeps (and so restores) nothing.
class EarlyStopping {
 public:
  explicit EarlyStopping(const v1::EarlyStoppingConfig& config)
      : EarlyStopping(config.patience(), config.min_delta()) {}
  EarlyStopping(int patience, double min_delta) : patience_(patience), min_delta_(min_delta) {}

  // Ends an epoch that left `params` (and `head`: null without one) with
  // loss `monitored`: keeps a copy of them when the epoch is the best so
  // far. True when the phase should stop now.
  bool EndEpoch(double monitored, const Parameters& params, const ClassifierHead* head);
  // Puts back the weights of the best epoch, when any were kept (`head`
  // only when one was passed to EndEpoch).
  void RestoreBest(Parameters* params, ClassifierHead* head);

  double best() const { return best_; }
  int epochs_since_best() const { return since_best_; }

 private:
  const int patience_;
  const double min_delta_;
  double best_ = std::numeric_limits<double>::infinity();
  int since_best_ = 0;
  std::optional<Parameters> best_params_;
  std::optional<ClassifierHead> best_head_;
};

// As PyTorch's ReduceLROnPlateau: multiplies the learning rate by `factor`
// (never below min_learning_rate) once more than `patience` epochs have
// passed without a new lowest loss, then waits as long again. Patience 0:
// never.
class PlateauLearningRate {
 public:
  explicit PlateauLearningRate(const v1::ReduceLrOnPlateauConfig& config)
      : PlateauLearningRate(config.patience(), config.factor(), config.min_learning_rate()) {}
  PlateauLearningRate(int patience, float factor, float min_learning_rate)
      : patience_(patience), factor_(factor), min_learning_rate_(min_learning_rate) {}

  // Ends an epoch whose loss was `monitored`, trained at `learning_rate`:
  // the reduced rate to set, or nothing to keep the rate.
  std::optional<float> EndEpoch(double monitored, float learning_rate);

 private:
  const int patience_;
  const float factor_;
  const float min_learning_rate_;
  double best_ = std::numeric_limits<double>::infinity();
  int since_best_ = 0;
};

}  // namespace train_internal
}  // namespace strata

#endif  // STRATA_CORE_TRAIN_EPOCH_POLICIES_H_
