// Data-parallel helpers of the trainer: where each rank's rows sit among
// every rank's, the split and the losses over all of them, the gradient
// all-reduce, and the checks that keep every rank taking the same decisions
// (see Trainer::Options::collective).
//
// Every function here that takes a Collective* is a collective call: every
// rank calls it, in the same order, with its own rows. A null Collective*
// means one process, and then no function communicates.
//
// Internal to core/train/. Thread-compatible.
#ifndef STRATA_CORE_TRAIN_DATA_PARALLEL_H_
#define STRATA_CORE_TRAIN_DATA_PARALLEL_H_

#include <cstdint>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/base/collective.h"
#include "core/nn/matrix.h"
#include "core/nn/stacked_autoencoder.h"
#include "core/train/row_sets.h"
#include "strata/v1/train_config.pb.h"

namespace strata {
namespace train_internal {

// Where this rank's rows sit among every rank's (the order one process
// would read them in): see Trainer::Options::row_layout. One process holds
// them all.
struct RowMap {
  int rank = 0;
  int size = 1;
  bool interleaved = true;
  int64_t offset = 0;  // kBlocks: this rank's first row
  int64_t local = 0;   // this rank's rows
  int64_t global = 0;  // every rank's
  // The local row of global row g, or -1 when another rank holds it.
  int64_t Local(int64_t g) const {
    if (interleaved) return g % size == rank ? g / size : -1;
    return g >= offset && g < offset + local ? g - offset : -1;
  }
  int64_t Global(int64_t l) const { return interleaved ? l * size + rank : offset + l; }
};

// The RowMap of this rank's `local_rows` (null `ranks`: one process holds
// them all). InvalidArgument, alike on every rank, when the interleaved
// layout's rank does not hold every size-th row.
absl::StatusOr<RowMap> MapRowsOverRanks(Collective* ranks, int64_t local_rows, bool interleaved);

// What data-parallel training refuses, alike on every rank: class labels
// (`labelled`: this rank has some), batch normalisation, and an ensemble.
absl::Status CheckDataParallelTraining(Collective* ranks, const v1::TrainConfig& config,
                                       bool labelled);

// Sums `values` over the ranks (nothing alone).
void SumOverRanks(Collective* ranks, absl::Span<double> values);

// EvaluateLoss over every rank's rows of a set (`x`: this rank's).
double GlobalLoss(Collective* ranks, const StackedAutoencoder& net, const RowSet& x, v1::Loss loss);

// SplitPositions over every rank's rows: the same shuffle of all of them on
// every rank holds out the first `val_rows`; this rank keeps its own rows
// (local indices) of each split, the training rows in their global order.
// Data-parallel, positions[p] is the local training row of global training
// position p (-1: another rank's); in one process it stays empty.
void SplitOwnedRows(const RowMap& map, int64_t val_rows, std::mt19937_64* rng,
                    std::vector<int>* train_idx, std::vector<int>* val_idx,
                    std::vector<int>* positions);

// Every rank's rows with global index a multiple of `stride`, in global
// order, on every rank (`data`: this rank's; null `ranks`: all of them).
Matrix GatherEveryRank(Collective* ranks, const RowMap& map, const Eigen::Ref<const Matrix>& data,
                       int64_t stride);

// Replaces this rank's gradient `grads` (a mean over its `mine` rows of the
// batch) with the mean over the batch's `n` rows on every rank. `buffer`
// is scratch space, kept between calls to save its allocation.
// REQUIRES: ranks != nullptr.
void AverageGradientsOverRanks(Collective* ranks, const std::vector<ParameterBlock<float>>& grads,
                               Eigen::Index mine, Eigen::Index n, std::vector<float>* buffer);

// Internal error, on every rank, when any rank's weights differ from this
// rank's (a bug, which publishing rank 0's alone would hide).
absl::Status CheckSameWeightsOnEveryRank(Collective* ranks, const RowMap& map,
                                         const StackedAutoencoder& net);

}  // namespace train_internal
}  // namespace strata

#endif  // STRATA_CORE_TRAIN_DATA_PARALLEL_H_
