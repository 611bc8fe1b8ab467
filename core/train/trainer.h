// Trainer: fits a stacked autoencoder and its scaler to a batch of records.
//
// Training runs in up to two phases: greedy layer-wise pretraining (shallow
// autoencoder AE_k on the frozen codes of AE_1 ... AE_(k-1), pretrain_epochs
// each), then end-to-end fine-tuning of the whole stack. Each phase has its
// own optimizer state, early stopping and learning-rate schedule, monitored
// on the validation split (the training loss without one). Rows with class
// labels add a third, supervised phase: a softmax head on the code, trained
// with (or without) the encoder on the labelled rows.
//
//   Trainer::Options options;
//   options.config = config;          // as the user wrote it
//   options.input_dim = data.cols();
//   options.on_epoch = [](const TrainProgress& p) { ... };
//   auto trainer = Trainer::Create(options);
//   absl::StatusOr<std::unique_ptr<Model>> model = trainer->Train(data);
//
// The same seed, data and config give identical weights on one machine.
// Not thread-safe; one per job. Train() uses config.threads cores for its
// matrix products (set for the calling thread only, so concurrent jobs on
// other threads are unaffected).
#ifndef STRATA_CORE_TRAIN_TRAINER_H_
#define STRATA_CORE_TRAIN_TRAINER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/base/collective.h"
#include "core/data/row_file.h"
#include "core/model/model.h"
#include "core/nn/matrix.h"
#include "strata/v1/model.pb.h"
#include "strata/v1/train_config.pb.h"

namespace strata {

// Reported after every epoch of every network of the ensemble: the served
// network's pretraining and fine-tuning (network 1), then each other
// network's, then the served network's supervised phase (network 1 again).
// The model's history holds the served network's epochs only.
struct TrainProgress {
  v1::EpochRecord record;  // The epoch that just finished.
  int epochs_done = 0;     // Across all phases and networks.
  // PlannedEpochs (core/train/train_config.h): upper bound, as early stopping may
  // end sooner.
  int epochs_planned = 0;
  double elapsed_seconds = 0;
  double eta_seconds = 0;  // For the planned epochs at the pace so far.
  // The network whose epoch this is, 1-based (1: the served one), of
  // `networks` (anomaly.ensemble_size as trained).
  int network = 1;
  int networks = 1;
};

class Trainer {
 public:
  struct Options {
    // The training config as given; Create fills in the defaults. Default: all defaults.
    v1::TrainConfig config;
    // Number of input features of the data. Required (>= 1).
    int input_dim = 0;
    // Feature names stored with the model. Default: empty (f0, f1, ...).
    std::vector<std::string> feature_names;
    // Called after every epoch on the training thread. Default: none.
    std::function<void(const TrainProgress&)> on_epoch;
    // The classes of Train's `classes` (ClassLabels::names), for a model
    // with a classifier head. Default: none.
    std::vector<std::string> class_names;
    // When it becomes true, Train returns Cancelled within one mini-batch.
    // Must outlive Train. Default: none.
    const std::atomic<bool>* cancel = nullptr;

    // Data-parallel training (core/base/collective.h): every rank calls Train
    // with its own rows, and every rank returns the same model: the one a
    // single process would train on all the rows, in the order below, with
    // a batch of (ranks x config.batch_size). Each step's gradients are
    // averaged over the ranks' rows of the global batch by one all-reduce.
    // Not with class labels or batch normalisation (their per-rank state
    // would differ) nor anomaly.ensemble_size > 1; the default ensemble is
    // one network. Noise and dropout draw from each rank's own stream, so
    // with them the weights are not one process's. Default: one process.
    Collective* collective = nullptr;
    // Where each rank's rows sit in the whole data (the order one process
    // would read it in): rank r of n holds rows r, r + n, r + 2n, ...
    // (kInterleaved: every n-th row of one file), or the block after rank
    // r - 1's (kBlocks: each rank its own shards). Default: kInterleaved.
    enum class RowLayout { kInterleaved, kBlocks };
    RowLayout row_layout = RowLayout::kInterleaved;
    // Data-parallel calibration and drift baseline run on every rank's rows
    // gathered in that order when they hold at most this many values (rows
    // x features): then they equal one process's. Beyond, on every k-th
    // row (a bounded sample, for thresholds, percentiles and bin edges),
    // with the baseline's counts, sums, minima and maxima over all rows by
    // reductions. The sample never has fewer rows than MinTrainingRows
    // (the fewest a training set may have), whatever this says.
    // Default: 2^24 (64 MB on each rank).
    // Train(const RowFile&) calibrates the same way, on every k-th row of
    // the file beyond this many values.
    int64_t calibration_values = int64_t{1} << 24;
    // Each epoch shuffles the training rows in blocks of this many (see
    // DefaultShuffleBlockRows). Default 0: Train(const Matrix&) shuffles
    // row by row, Train(const RowFile&) in blocks of
    // DefaultShuffleBlockRows(input_dim).
    int64_t shuffle_block_rows = 0;
  };

  // Validates the config against the input width (InvalidArgument naming the field).
  static absl::StatusOr<std::unique_ptr<Trainer>> Create(Options options);

  // The config with every default filled in.
  const v1::TrainConfig& config() const { return config_; }

  // Trains on `data` (rows x input_dim, original units). Fits the scaler on
  // all rows, holds out validation_fraction of them (picked by the seed).
  // With `classes` (one per row: an index into options.class_names, or
  // kUnlabelled), then trains a classifier head on the code as
  // config.supervised says, on the labelled rows: the model predicts them.
  // Unlabelled rows take part in the unsupervised phases only.
  absl::StatusOr<std::unique_ptr<Model>> Train(const Matrix& data,
                                               absl::Span<const int> classes = {});

  // Trains on a row file's rows, which need not fit in memory: the model
  // Train would give on the same rows, but holding no copy of them. The
  // training and validation splits are lists of row numbers; each batch's
  // rows are read from the mapping and scaled as they are used (and, while
  // pretraining, encoded through the layers below). Each epoch visits the
  // rows in shuffled blocks (shuffle_block_rows), so that a file larger
  // than the page cache is read a block, not a row, at a time. The scaler
  // and the drift baseline's counts, sums and ranges are streaming passes
  // over all rows; thresholds, percentiles and bin edges come from every
  // k-th row within calibration_values. No class labels. Data-parallel, each
  // rank passes its own file (its rows, as row_layout says).
  absl::StatusOr<std::unique_ptr<Model>> Train(const RowFile& file);

 private:
  // `in_memory`: `data` itself, when it is a Matrix (null: mapped rows).
  absl::StatusOr<std::unique_ptr<Model>> TrainOrThrow(const Eigen::Ref<const Matrix>& data,
                                                      const Matrix* in_memory,
                                                      absl::Span<const int> classes,
                                                      const absl::Status& checked);

  Trainer(Options options, v1::TrainConfig config)
      : options_(std::move(options)), config_(std::move(config)) {}

  const Options options_;
  const v1::TrainConfig config_;
};

// Rows in one shuffle block of a row file: 1 MiB of them (at least one).
// An epoch takes the blocks in a random order, kShuffleWindowBlocks at a
// time, and shuffles the rows of each such window (64 MiB) together.
inline constexpr int64_t kShuffleBlockBytes = int64_t{1} << 20;
inline constexpr size_t kShuffleWindowBlocks = 64;
int64_t DefaultShuffleBlockRows(int input_dim);
// Shuffles `order` (positions 0 .. n-1, in any order) for an epoch. With
// `block_rows` > 0 (a row file's epochs), in blocks of that many
// consecutive positions: the blocks in a random order, taken
// kShuffleWindowBlocks at a time, the positions of each such window
// shuffled together, so that an epoch reads the file a block, not a row, at
// a time and batches still mix rows from far apart. A set of one window or
// less (or block_rows <= 0) is shuffled position by position.
void ShuffleOrder(int64_t block_rows, std::mt19937_64* rng, std::vector<int>* order);

// CRC32C of every parameter of `net`: ranks of a data-parallel training
// compare theirs (and print it) to show they hold the same weights.
uint32_t WeightsChecksum(const StackedAutoencoder& net);

}  // namespace strata

#endif  // STRATA_CORE_TRAIN_TRAINER_H_
