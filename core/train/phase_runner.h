// PhaseRunner: one training phase of a network (the pretraining of one
// layer, the fine-tuning, or the supervised phase): the epoch loop over
// shuffled mini-batches, with its optimizer, its learning-rate schedules and
// early stopping (core/train/epoch_policies.h), the progress reports and
// the cancel check, and data-parallel, each step's all-reduce.
//
//   PhaseRunner runner(config, options, &rng, start, &epochs_done, planned, &history);
//   absl::Status s = runner.Run(&net, RowSet(train), RowSet(val), objective,
//                               config.finetune_epochs(), v1::EpochRecord::FINETUNE, 0);
//
// Internal to core/train/. Not thread-safe; one per network being trained.
#ifndef STRATA_CORE_TRAIN_PHASE_RUNNER_H_
#define STRATA_CORE_TRAIN_PHASE_RUNNER_H_

#include <chrono>
#include <cstdint>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "core/base/collective.h"
#include "core/nn/backprop.h"
#include "core/nn/classifier_head.h"
#include "core/nn/matrix.h"
#include "core/nn/stacked_autoencoder.h"
#include "core/train/row_sets.h"
#include "core/train/trainer.h"
#include "strata/v1/model.pb.h"
#include "strata/v1/train_config.pb.h"

namespace strata {
namespace train_internal {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start);

// FailedPrecondition saying that training diverged (`what`, and in which
// layer's pretraining) and what to do about it.
absl::Status Diverged(absl::string_view what, v1::EpochRecord::Phase phase, int layer);

// The fewest mini-batches a supervised epoch makes: with fewer labelled
// rows than this many batches, an epoch passes over them more than once.
inline constexpr int64_t kMinSupervisedBatches = 20;

class PhaseRunner {
 public:
  // `rng` shuffles (the same stream on every rank); `row_rng` draws noise
  // and dropout (this rank's own when data-parallel, else `rng`). Every
  // epoch is appended to `history` and counted in `epochs_done`, of
  // `epochs_planned` (for the progress reports, from `start`).
  PhaseRunner(const v1::TrainConfig& config, const Trainer::Options& options, std::mt19937_64* rng,
              Clock::time_point start, int* epochs_done, int epochs_planned,
              std::vector<v1::EpochRecord>* history, Collective* ranks = nullptr,
              std::mt19937_64* row_rng = nullptr)
      : config_(config),
        options_(options),
        rng_(rng),
        row_rng_(row_rng != nullptr ? row_rng : rng),
        ranks_(ranks),
        start_(start),
        epochs_done_(epochs_done),
        epochs_planned_(epochs_planned),
        history_(history) {}

  // The supervised phase's head and classes, for Run.
  struct Supervised {
    ClassifierHead* head;
    const std::vector<int>* train_classes;  // One per row of `train`.
    const std::vector<int>* val_classes;    // One per row of `val`.
    const Matrix* val;                      // `val`'s rows.
    float learning_rate;                    // The phase's (initial) rate.
    // Training rows without a label, or null. When the objective has a
    // reconstruction term (and the encoder trains), each step adds
    // batch_size of them, in a shuffled cycle, to the labelled batch: they
    // count in the reconstruction term and not in the cross-entropy.
    const RowSet* unlabelled = nullptr;
    // The phase's optimizer instead of the config's (learning_rate is then
    // unused), or null.
    const v1::OptimizerConfig* optimizer = nullptr;
  };

  // Shuffles in blocks of this many rows (see ShuffleOrder). Default 0: row
  // by row.
  void set_shuffle_block_rows(int64_t rows) { shuffle_block_rows_ = rows; }
  // The network of the ensemble whose epochs these are (1-based, 1 the
  // served one) and how many there are, for the progress reports.
  // Default: 1 of 1.
  void set_network(int network, int networks) {
    network_ = network;
    networks_ = networks;
  }

  // Trains `net` for up to `epochs` epochs on `train`, monitored on `val`
  // (the training loss without validation rows).
  // With `supervised`, trains the head (and the network, unless
  // objective.frozen_encoder) on the supervised objective; the rows go in
  // without noise. Data-parallel, `positions` maps every rank's training
  // rows to this rank's rows of `train` (see SplitOwnedRows); null: all of
  // `train`'s rows are the training rows.
  absl::Status Run(StackedAutoencoder* net, const RowSet& train, const RowSet& val,
                   const ObjectiveOptions& objective, int epochs, v1::EpochRecord::Phase phase,
                   int layer, const Supervised* supervised = nullptr,
                   const std::vector<int>* positions = nullptr);

 private:
  class Phase;  // One Run's state and steps (phase_runner.cc).

  // Adds the configured input noise to `batch`, drawn from row_rng_.
  void AddNoise(Matrix* batch);
  // Counts an epoch that just ended, records it and reports it.
  void EndEpoch(const v1::EpochRecord& record);

  const v1::TrainConfig& config_;
  const Trainer::Options& options_;
  std::mt19937_64* rng_;
  std::mt19937_64* row_rng_;
  Collective* const ranks_;  // null: one process
  const Clock::time_point start_;
  int* epochs_done_;
  const int epochs_planned_;
  std::vector<v1::EpochRecord>* history_;
  std::vector<float> reduce_buffer_;
  int64_t shuffle_block_rows_ = 0;
  int network_ = 1;
  int networks_ = 1;
};

}  // namespace train_internal
}  // namespace strata

#endif  // STRATA_CORE_TRAIN_PHASE_RUNNER_H_
