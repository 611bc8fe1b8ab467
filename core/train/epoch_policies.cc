#include "core/train/epoch_policies.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace strata {
namespace train_internal {

float CosineLearningRate::At(int epoch) const {
  constexpr double kPi = 3.14159265358979323846;
  // The operations and their types as written, so that each epoch's rate is
  // the same float to the bit.
  return static_cast<float>(final_ +
                            (initial_ - final_) * (1 + std::cos(kPi * (epoch - 1) / epochs_)) / 2);
}

bool EarlyStopping::EndEpoch(double monitored, const Parameters& params,
                             const ClassifierHead* head) {
  if (monitored < best_ - min_delta_) {
    best_ = monitored;
    since_best_ = 0;
    if (patience_ > 0) {
      best_params_ = params;
      if (head != nullptr) best_head_ = *head;
    }
  } else {
    ++since_best_;
  }
  return patience_ > 0 && since_best_ >= patience_;
}

void EarlyStopping::RestoreBest(Parameters* params, ClassifierHead* head) {
  if (best_params_.has_value()) *params = *std::move(best_params_);
  if (best_head_.has_value()) *head = *std::move(best_head_);
}

std::optional<float> PlateauLearningRate::EndEpoch(double monitored, float learning_rate) {
  if (monitored < best_) {
    best_ = monitored;
    since_best_ = 0;
  } else if (patience_ > 0 && ++since_best_ > patience_) {
    since_best_ = 0;
    return std::max(min_learning_rate_, learning_rate * factor_);
  }
  return std::nullopt;
}

}  // namespace train_internal
}  // namespace strata
