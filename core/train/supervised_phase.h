// The supervised phase: a softmax head on the code of a trained network,
// trained (with the encoder, or on its frozen code) on the labelled rows,
// and the classifier's figures and warnings for the training summary.
//
// Internal to core/train/. Not thread-safe (it drives a PhaseRunner).
#ifndef STRATA_CORE_TRAIN_SUPERVISED_PHASE_H_
#define STRATA_CORE_TRAIN_SUPERVISED_PHASE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/nn/backprop.h"
#include "core/nn/classifier_head.h"
#include "core/nn/matrix.h"
#include "core/nn/stacked_autoencoder.h"
#include "core/train/phase_runner.h"
#include "strata/v1/model.pb.h"
#include "strata/v1/train_config.pb.h"

namespace strata {
namespace train_internal {

// EpochRecord.layer of the SUPERVISED epochs of the head alone before full
// fine-tuning (supervised.head_epochs); the others' is 0. Their validation
// loss is the cross-entropy alone, the full stage's adds the
// reconstruction term: the two stages' losses do not compare.
inline constexpr int kHeadAloneStage = 1;

// A head on `net`'s code, trained on the labelled rows of the training
// split and watched on those of the validation split (classes[train_idx[i]]
// is the class of train's row i; likewise for val). Writes the head's
// figures into summary->classifier and its warnings. InvalidArgument when
// no labelled row is left to train on.
absl::StatusOr<ClassifierHead> TrainHead(
    const v1::TrainConfig& config, const std::vector<std::string>& class_names,
    StackedAutoencoder* net, PhaseRunner* runner, const ObjectiveOptions& objective,
    const Matrix& train, const std::vector<int>& train_idx, const Matrix& val,
    const std::vector<int>& val_idx, absl::Span<const int> classes, v1::TrainingSummary* summary);

}  // namespace train_internal
}  // namespace strata

#endif  // STRATA_CORE_TRAIN_SUPERVISED_PHASE_H_
