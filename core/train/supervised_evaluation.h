// The supervised objective of a classifier head (and the network under it)
// on labelled rows, and its accuracy: what the supervised phase monitors
// each epoch and what the classifier summary reports.
//
// Internal to core/train/. Thread-compatible.
#ifndef STRATA_CORE_TRAIN_SUPERVISED_EVALUATION_H_
#define STRATA_CORE_TRAIN_SUPERVISED_EVALUATION_H_

#include <vector>

#include "core/nn/classifier_head.h"
#include "core/nn/matrix.h"
#include "core/nn/stacked_autoencoder.h"
#include "strata/v1/train_config.pb.h"

namespace strata {
namespace train_internal {

struct SupervisedEvaluation {
  double objective = 0;  // Cross-entropy + reconstruction_weight x loss.
  double accuracy = 0;
};

// The supervised objective of `head` on `net`'s code of rows `x` (classes
// one per row), in chunks, and its accuracy; each row's predicted class
// when `predicted` is not null.
SupervisedEvaluation EvaluateSupervised(const StackedAutoencoder& net, const ClassifierHead& head,
                                        const Matrix& x, const std::vector<int>& classes,
                                        double reconstruction_weight, v1::Loss loss,
                                        std::vector<int>* predicted = nullptr);

}  // namespace train_internal
}  // namespace strata

#endif  // STRATA_CORE_TRAIN_SUPERVISED_EVALUATION_H_
