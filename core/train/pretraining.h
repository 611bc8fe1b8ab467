// The unsupervised phases of one network: greedy layer-wise pretraining
// (shallow autoencoder AE_k on the frozen codes of AE_1 ... AE_(k-1)), then
// end-to-end fine-tuning of the whole stack. Every network of the ensemble
// goes through the same.
//
// Internal to core/train/. Not thread-safe (it drives a PhaseRunner).
#ifndef STRATA_CORE_TRAIN_PRETRAINING_H_
#define STRATA_CORE_TRAIN_PRETRAINING_H_

#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/nn/backprop.h"
#include "core/nn/matrix.h"
#include "core/nn/stacked_autoencoder.h"
#include "core/train/phase_runner.h"
#include "core/train/row_sets.h"
#include "strata/v1/train_config.pb.h"

namespace strata {
namespace train_internal {

// The rows a network trains on.
struct NetworkRows {
  const RowSet& train;
  const RowSet& val;
  // In memory, the matrices `train` and `val` read; null when mapped: then
  // the codes of the layers below are computed batch by batch rather than
  // held.
  const Matrix* train_rows = nullptr;
  const Matrix* val_rows = nullptr;
  // Data-parallel, as PhaseRunner::Run takes them; else null.
  const std::vector<int>* positions = nullptr;
};

// The shallow autoencoder that pretrains encoder layer m of `deep`, starting
// from the deep network's initial weights for that layer and its mirror.
absl::StatusOr<StackedAutoencoder> ShallowFor(const StackedAutoencoder& deep, int m);

// Pretrains each encoder layer of `net` (config.pretrain_epochs each) and
// its mirror on the codes of the layers below, copying the shallow
// networks' weights into `net`.
absl::Status PretrainLayerWise(const v1::TrainConfig& config, const ObjectiveOptions& objective,
                               const NetworkRows& rows, PhaseRunner* runner,
                               StackedAutoencoder* net);

// Layer-wise pretraining, then fine-tuning, of `net`, each phase only when
// the config gives it epochs.
absl::Status FitUnsupervised(const v1::TrainConfig& config, const ObjectiveOptions& objective,
                             const NetworkRows& rows, PhaseRunner* runner, StackedAutoencoder* net);

}  // namespace train_internal
}  // namespace strata

#endif  // STRATA_CORE_TRAIN_PRETRAINING_H_
