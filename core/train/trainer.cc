#include "core/train/trainer.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <new>
#include <numeric>
#include <optional>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "core/base/crc32c.h"
#include "core/data/class_labels.h"
#include "core/data/scaler.h"
#include "core/nn/backprop.h"
#include "core/nn/classifier_head.h"
#include "core/nn/stacked_autoencoder.h"
#include "core/train/calibration.h"
#include "core/train/data_parallel.h"
#include "core/train/phase_runner.h"
#include "core/train/pretraining.h"
#include "core/train/row_sets.h"
#include "core/train/supervised_phase.h"
#include "core/train/train_config.h"

#ifndef STRATA_VERSION
#define STRATA_VERSION "dev"
#endif

namespace strata {
namespace {

using train_internal::Clock;
using train_internal::NetworkRows;
using train_internal::PhaseRunner;
using train_internal::RowMap;
using train_internal::RowSet;

// BCE targets must lie in [0, 1]; names the first raw value that does not,
// by its row in `raw` (`whose` says whose rows they are) and its column's
// name when `names` has them. A block at a time: rows mapped from a file are
// read once, in order.
absl::Status CheckUnitRange(const Scaler& scaler, const Eigen::Ref<const Matrix>& raw,
                            const std::vector<std::string>& names, const std::string& whose) {
  constexpr Eigen::Index kBlock = 4096;
  for (Eigen::Index at = 0; at < raw.rows(); at += kBlock) {
    const Eigen::Index n = std::min(kBlock, raw.rows() - at);
    const Matrix scaled = scaler.Transform(raw.middleRows(at, n));
    if (scaled.minCoeff() >= 0.0f && scaled.maxCoeff() <= 1.0f) continue;
    for (Eigen::Index r = 0; r < n; ++r) {
      for (Eigen::Index c = 0; c < scaled.cols(); ++c) {
        if (scaled(r, c) < 0.0f || scaled(r, c) > 1.0f) {
          const std::string column = c < static_cast<Eigen::Index>(names.size())
                                         ? absl::StrCat(c, " (", names[static_cast<size_t>(c)], ")")
                                         : absl::StrCat(c);
          return absl::InvalidArgumentError(absl::StrCat(
              whose, " row ", at + r, " (counting from 0), column ", column, ": ", raw(at + r, c),
              " is outside [0, 1] after scaling; BCE needs inputs in [0, 1] (use scaler minmax)"));
        }
      }
    }
  }
  return absl::OkStatus();
}

// `classes` (empty: none) holds one label per row, each a class of
// `num_classes` or kUnlabelled.
absl::Status CheckClassLabels(absl::Span<const int> classes, Eigen::Index rows, int num_classes) {
  if (classes.empty()) return absl::OkStatus();
  if (static_cast<Eigen::Index>(classes.size()) != rows || num_classes == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(classes.size(), " class labels for ", rows, " rows and ", num_classes,
                     " class names; a classifier needs one label (or kUnlabelled) per row"));
  }
  for (size_t r = 0; r < classes.size(); ++r) {
    if (classes[r] != kUnlabelled && (classes[r] < 0 || classes[r] >= num_classes)) {
      return absl::InvalidArgumentError(
          absl::StrCat("row ", r, ": class ", classes[r], " is not in [0, ", num_classes, ")"));
    }
  }
  return absl::OkStatus();
}

// One call of Trainer::Train, as its steps: check the inputs, map the rows
// over the ranks, scale and split them, train the served network and the
// ensemble's others, the classifier head, summarise, calibrate, and
// assemble the model. Each step fills in what the next ones read.
// Not thread-safe; one per Train call.
class TrainingRun {
 public:
  // `in_memory`: `data` itself, when it is a Matrix (null: mapped rows).
  TrainingRun(const Trainer::Options& options, const v1::TrainConfig& config,
              const Eigen::Ref<const Matrix>& data, const Matrix* in_memory,
              absl::Span<const int> classes)
      : options_(options),
        config_(config),
        data_(data),
        in_memory_(in_memory),
        classes_(classes),
        start_(Clock::now()),
        mapped_(in_memory == nullptr),
        // Data-parallel when more than one rank takes part.
        ranks_(options.collective != nullptr && options.collective->size() > 1 ? options.collective
                                                                               : nullptr),
        rng_(config.seed()) {}

  // `checked`: this rank's verdict on the data's shape, agreed on first.
  absl::StatusOr<std::unique_ptr<Model>> Train(const absl::Status& checked);

 private:
  absl::Status CheckInputs(const absl::Status& checked);
  absl::Status MapRows();
  // OpenMP's thread count is per calling thread, and Eigen reads it when no
  // global count is set: concurrent jobs each get their own, with no shared
  // state to race on (Eigen::setNbThreads is process-wide).
  void UseConfiguredThreads() {
    omp_set_num_threads(config_.threads() > 0 ? config_.threads() : omp_get_num_procs());
  }
  absl::Status CountRows();
  absl::Status ScaleAndSplit();
  absl::Status TrainServedNetwork();
  absl::Status TrainOtherNetworks();
  absl::StatusOr<StackedAutoencoder> TrainOtherNetwork(int m);
  void FoldNormalisations();
  absl::Status TrainClassifierHead();
  absl::Status SummariseTraining();
  absl::Status Calibrate();
  absl::StatusOr<std::unique_ptr<Model>> AssembleModel();

  const Trainer::Options& options_;
  const v1::TrainConfig& config_;
  const Eigen::Ref<const Matrix>& data_;
  const Matrix* const in_memory_;
  const absl::Span<const int> classes_;
  const Clock::time_point start_;
  const bool mapped_;
  Collective* const ranks_;  // null: one process

  // MapRows, CountRows.
  RowMap map_;  // Where this rank's rows sit among all of them.
  int rows_ = 0;
  int val_rows_ = 0;
  // ScaleAndSplit.
  std::optional<Scaler> scaler_;
  std::mt19937_64 rng_;
  // Noise and dropout: each rank its own stream, so that the shuffles (from
  // `rng_`) stay the same on every rank.
  std::mt19937_64 row_rng_;
  Matrix train_, val_;                    // In memory: the scaled rows of each split.
  std::vector<int> train_idx_, val_idx_;  // The data rows each split took.
  std::vector<int> positions_;            // Data-parallel: see SplitOwnedRows.
  std::optional<RowSet> train_set_, val_set_;
  // TrainServedNetwork.
  v1::Architecture arch_;
  std::optional<StackedAutoencoder> net_;
  ObjectiveOptions objective_;
  int ensemble_size_ = 1;
  int planned_ = 0;
  int epochs_done_ = 0;
  std::vector<v1::EpochRecord> history_;
  std::optional<PhaseRunner> runner_;
  int64_t block_rows_ = 0;
  // TrainOtherNetworks, TrainClassifierHead, and what the model holds.
  std::vector<StackedAutoencoder> others_;
  std::optional<ClassifierHead> head_;
  ModelInfo info_;
};

absl::StatusOr<std::unique_ptr<Model>> TrainingRun::Train(const absl::Status& checked) {
  if (absl::Status s = CheckInputs(checked); !s.ok()) return s;
  if (absl::Status s = MapRows(); !s.ok()) return s;
  UseConfiguredThreads();
  if (absl::Status s = CountRows(); !s.ok()) return s;
  if (absl::Status s = ScaleAndSplit(); !s.ok()) return s;
  if (absl::Status s = TrainServedNetwork(); !s.ok()) return s;
  if (absl::Status s = TrainOtherNetworks(); !s.ok()) return s;
  FoldNormalisations();
  if (absl::Status s = TrainClassifierHead(); !s.ok()) return s;
  if (absl::Status s = SummariseTraining(); !s.ok()) return s;
  if (absl::Status s = Calibrate(); !s.ok()) return s;
  if (absl::Status s = train_internal::CheckSameWeightsOnEveryRank(ranks_, map_, *net_); !s.ok()) {
    return s;
  }
  return AssembleModel();
}

absl::Status TrainingRun::CheckInputs(const absl::Status& checked) {
  if (absl::Status s = AgreeOnStatus(ranks_, checked); !s.ok()) return s;
  if (absl::Status s =
          train_internal::CheckDataParallelTraining(ranks_, config_, !classes_.empty());
      !s.ok()) {
    return s;
  }
  return CheckClassLabels(classes_, data_.rows(), static_cast<int>(options_.class_names.size()));
}

absl::Status TrainingRun::MapRows() {
  absl::StatusOr<RowMap> map = train_internal::MapRowsOverRanks(
      ranks_, data_.rows(), options_.row_layout == Trainer::Options::RowLayout::kInterleaved);
  if (!map.ok()) return map.status();
  map_ = *map;
  if (absl::Status s = CheckTrainingRows(config_, map_.global); !s.ok()) return s;
  return CheckTrainingEpochs(config_, !classes_.empty());
}

absl::Status TrainingRun::CountRows() {
  // Rows are indexed with int below (and fit: --max_train_values bounds
  // what a server takes); refuse more rather than wrap.
  if (map_.global > std::numeric_limits<int>::max()) {
    return absl::InvalidArgumentError(absl::StrCat("the training data has ", map_.global,
                                                   " rows; at most ",
                                                   std::numeric_limits<int>::max(), " are taken"));
  }
  rows_ = static_cast<int>(map_.global);
  // validation_fraction <= 0.9 always leaves at least one training row.
  val_rows_ = static_cast<int>(std::floor(config_.validation_fraction() * rows_));
  return absl::OkStatus();
}

absl::Status TrainingRun::ScaleAndSplit() {
  // The scaler sees every row: live data is scaled the same way whichever
  // rows were held out, and BCE targets of held-out rows stay in [0, 1].
  absl::StatusOr<Scaler> scaler = Scaler::Fit(config_.scaler(), data_, ranks_);
  if (!scaler.ok()) return scaler.status();
  scaler_.emplace(*std::move(scaler));
  row_rng_.seed(config_.seed() ^ (0x9e3779b97f4a7c15ULL * (map_.rank + 1)));
  if (config_.loss() == v1::BCE) {
    const std::string whose = ranks_ != nullptr
                                  ? absl::StrCat("rank ", map_.rank, "'s training data")
                              : mapped_ ? std::string("the row file's")
                                        : std::string("training data");
    if (absl::Status s =
            AgreeOnStatus(ranks_, CheckUnitRange(*scaler_, data_, options_.feature_names, whose));
        !s.ok()) {
      return s;
    }
  }
  train_internal::SplitOwnedRows(map_, val_rows_, &rng_, &train_idx_, &val_idx_, &positions_);
  // Mapped, no copy: the sets are indices into the mapping (in file
  // order), scaled as fetched.
  if (!mapped_) {
    // Scoped so that the scaled copy is freed once split: training holds the
    // data twice at most (raw, and scaled train + validation rows).
    const Matrix scaled = scaler_->Transform(*in_memory_);
    const Matrix none(0, scaled.cols());
    train_ = train_internal::GatherRows(scaled, none, train_idx_);
    val_ = train_internal::GatherRows(scaled, none, val_idx_);
  }
  train_set_.emplace(mapped_ ? RowSet(data_, &*scaler_, &train_idx_) : RowSet(train_));
  val_set_.emplace(mapped_ ? RowSet(data_, &*scaler_, &val_idx_) : RowSet(val_));
  return absl::OkStatus();
}

absl::Status TrainingRun::TrainServedNetwork() {
  arch_ = ArchitectureFromConfig(config_, options_.input_dim);
  absl::StatusOr<StackedAutoencoder> net = StackedAutoencoder::Create(arch_, config_.seed());
  if (!net.ok()) return net.status();
  net_.emplace(*std::move(net));
  objective_.loss = config_.loss();
  objective_.sparsity_weight = config_.sparsity().weight();
  objective_.sparsity_target = config_.sparsity().target();
  objective_.dropout = config_.dropout();
  // The ensemble: this network, then the others (TrainOtherNetworks).
  // Data-parallel training trains one.
  ensemble_size_ =
      ranks_ == nullptr ? TrainedNetworks(config_, data_.rows(), options_.input_dim) : 1;
  // Progress counts every network's epochs, in one count: what the job
  // takes is what it reports.
  planned_ = PlannedEpochs(config_, ensemble_size_, !classes_.empty());
  runner_.emplace(config_, options_, &rng_, start_, &epochs_done_, planned_, &history_, ranks_,
                  ranks_ != nullptr ? &row_rng_ : nullptr);
  block_rows_ = options_.shuffle_block_rows > 0 ? options_.shuffle_block_rows
                : mapped_                       ? DefaultShuffleBlockRows(options_.input_dim)
                                                : 0;
  runner_->set_shuffle_block_rows(block_rows_);
  runner_->set_network(1, ensemble_size_);
  const NetworkRows rows{*train_set_, *val_set_, mapped_ ? nullptr : &train_,
                         mapped_ ? nullptr : &val_, ranks_ != nullptr ? &positions_ : nullptr};
  return train_internal::FitUnsupervised(config_, objective_, rows, &*runner_, &*net_);
}

// The ensemble's other networks: seeds seed + 1, ..., each with its own
// validation split of the same rows drawn with its seed, so that they
// also stop early on different rows (a small gain on the ODDS bench:
// bench/README.md). Their epochs go to the progress reports (marked by
// network) and the epoch count, not the history, which is the served
// network's.
absl::Status TrainingRun::TrainOtherNetworks() {
  for (int m = 1; m < ensemble_size_; ++m) {
    absl::StatusOr<StackedAutoencoder> other = TrainOtherNetwork(m);
    if (!other.ok()) return other.status();
    others_.push_back(*std::move(other));
  }
  return absl::OkStatus();
}

absl::StatusOr<StackedAutoencoder> TrainingRun::TrainOtherNetwork(int m) {
  const uint64_t seed = config_.seed() + static_cast<uint64_t>(m);
  absl::StatusOr<StackedAutoencoder> other = StackedAutoencoder::Create(arch_, seed);
  if (!other.ok()) return other.status();
  std::mt19937_64 other_rng(seed);
  std::vector<v1::EpochRecord> other_history;
  PhaseRunner other_runner(config_, options_, &other_rng, start_, &epochs_done_, planned_,
                           &other_history);
  other_runner.set_shuffle_block_rows(block_rows_);
  other_runner.set_network(m + 1, ensemble_size_);
  Matrix other_train, other_val;
  std::vector<int> other_train_idx, other_val_idx;
  if (mapped_) {
    train_internal::SplitIndices(train_idx_, val_idx_, val_rows_, &other_rng, &other_train_idx,
                                 &other_val_idx);
  } else {
    train_internal::SplitRows(train_, val_, val_rows_, &other_rng, &other_train, &other_val);
  }
  const RowSet other_train_set =
      mapped_ ? RowSet(data_, &*scaler_, &other_train_idx) : RowSet(other_train);
  const RowSet other_val_set =
      mapped_ ? RowSet(data_, &*scaler_, &other_val_idx) : RowSet(other_val);
  const NetworkRows rows{other_train_set, other_val_set, mapped_ ? nullptr : &other_train,
                         mapped_ ? nullptr : &other_val, nullptr};
  if (absl::Status s =
          train_internal::FitUnsupervised(config_, objective_, rows, &other_runner, &*other);
      !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("ensemble network ", m + 1, ": ", s.message()));
  }
  return other;
}

// What is published holds each normalisation folded into the weights or
// a per-unit scale and shift: it serves as fast as the same network
// without, with the same outputs (the running statistics').
void TrainingRun::FoldNormalisations() {
  *net_ = net_->Folded();
  for (StackedAutoencoder& other : others_) other = other.Folded();
}

// The supervised phase trains the folded network: each normalisation
// stays at its running statistics, as when fine-tuning in evaluation
// mode (the few labelled rows' batches would give poor statistics).
absl::Status TrainingRun::TrainClassifierHead() {
  if (classes_.empty()) return absl::OkStatus();
  absl::StatusOr<ClassifierHead> trained =
      train_internal::TrainHead(config_, options_.class_names, &*net_, &*runner_, objective_,
                                train_, train_idx_, val_, val_idx_, classes_, &info_.summary);
  if (!trained.ok()) return trained.status();
  head_ = *std::move(trained);
  info_.class_names = options_.class_names;
  return absl::OkStatus();
}

absl::Status TrainingRun::SummariseTraining() {
  info_.feature_names = options_.feature_names;
  info_.config = config_;
  info_.config.mutable_anomaly()->set_ensemble_size(ensemble_size_);
  info_.history = std::move(history_);
  v1::TrainingSummary& summary = info_.summary;
  const bool unsupervised = config_.pretrain_epochs() > 0 || config_.finetune_epochs() > 0;
  if (ranks_ != nullptr && unsupervised && !config_.anomaly().has_ensemble_size() &&
      DefaultEnsembleSize(rows_, options_.input_dim) > 1) {
    summary.add_warnings(absl::StrFormat(
        "anomaly.ensemble_size: data-parallel training trained one network, where one process "
        "would have trained %d by default (the ENSEMBLE score needs them)",
        DefaultEnsembleSize(rows_, options_.input_dim)));
  }
  summary.set_train_rows(rows_ - val_rows_);
  summary.set_validation_rows(val_rows_);
  summary.set_epochs(epochs_done_);
  using train_internal::GlobalLoss;
  summary.set_final_train_loss(GlobalLoss(ranks_, *net_, *train_set_, config_.loss()));
  if (val_rows_ > 0) {
    summary.set_final_validation_loss(GlobalLoss(ranks_, *net_, *val_set_, config_.loss()));
  }
  summary.set_mean_reconstruction_mse(config_.loss() == v1::MSE
                                          ? summary.final_train_loss()
                                          : GlobalLoss(ranks_, *net_, *train_set_, v1::MSE));
  if (!std::isfinite(summary.final_train_loss()) ||
      !std::isfinite(summary.mean_reconstruction_mse()) ||
      (val_rows_ > 0 && !std::isfinite(summary.final_validation_loss()))) {
    // Finite weights whose outputs overflow.
    return train_internal::Diverged("the final loss is not finite", v1::EpochRecord::FINETUNE, 0);
  }
  return absl::OkStatus();
}

absl::Status TrainingRun::Calibrate() {
  train_internal::CalibrationRows rows;
  rows.ranks = ranks_;
  rows.map = &map_;
  rows.data = &data_;
  rows.in_memory = in_memory_;
  rows.calibration_values = options_.calibration_values;
  rows.input_dim = options_.input_dim;
  rows.cancel = options_.cancel;
  return train_internal::Calibrate(config_, rows, *net_, others_, *scaler_,
                                   head_.has_value() ? &*head_ : nullptr, classes_, &info_);
}

absl::StatusOr<std::unique_ptr<Model>> TrainingRun::AssembleModel() {
  info_.summary.set_seconds(train_internal::SecondsSince(start_));
  info_.created_unix_micros = absl::ToUnixMicros(absl::Now());
  info_.strata_version = STRATA_VERSION;
  auto model = std::make_unique<Model>(*std::move(net_), *std::move(scaler_), std::move(info_),
                                       std::move(others_), std::move(head_));
  // What the loader checks, checked before anything is published: a model
  // that fails here would be stored and never load.
  if (absl::Status s = ValidateModel(*model); !s.ok()) {
    return absl::InternalError(
        absl::StrCat("training produced a model that would not load: ", s.message()));
  }
  return model;
}

}  // namespace

uint32_t WeightsChecksum(const StackedAutoencoder& net) {
  std::string bytes;
  const Parameters& p = net.parameters();
  const auto add = [&bytes](const auto& tensors) {
    for (const auto& t : tensors) {
      bytes.append(reinterpret_cast<const char*>(t.data()), sizeof(float) * t.size());
    }
  };
  add(p.weights);
  add(p.biases);
  for (const auto* v :
       {&p.bn_gamma, &p.bn_beta, &p.bn_mean, &p.bn_var, &p.out_scale, &p.out_shift}) {
    add(*v);
  }
  return Crc32c(bytes);
}

absl::StatusOr<std::unique_ptr<Trainer>> Trainer::Create(Options options) {
  absl::StatusOr<v1::TrainConfig> config = ResolveTrainConfig(options.config, options.input_dim);
  if (!config.ok()) return config.status();
  if (absl::Status s = ValidateClassNames(options.class_names); !s.ok()) return s;
  if (!options.feature_names.empty() &&
      static_cast<int>(options.feature_names.size()) != options.input_dim) {
    return absl::InvalidArgumentError(absl::StrCat(
        options.feature_names.size(), " feature names for ", options.input_dim, " features"));
  }
  return std::unique_ptr<Trainer>(new Trainer(std::move(options), *std::move(config)));
}

int64_t DefaultShuffleBlockRows(int input_dim) {
  return std::max<int64_t>(1, kShuffleBlockBytes / (int64_t{4} * std::max(input_dim, 1)));
}

void ShuffleOrder(int64_t block_rows, std::mt19937_64* rng, std::vector<int>* order) {
  const int64_t n = static_cast<int64_t>(order->size());
  if (block_rows <= 0 || n / static_cast<int64_t>(kShuffleWindowBlocks) < block_rows) {
    std::shuffle(order->begin(), order->end(), *rng);
    return;
  }
  std::vector<int64_t> blocks(static_cast<size_t>((n + block_rows - 1) / block_rows));
  std::iota(blocks.begin(), blocks.end(), 0);
  std::shuffle(blocks.begin(), blocks.end(), *rng);
  order->clear();
  for (size_t w = 0; w < blocks.size(); w += kShuffleWindowBlocks) {
    const size_t window_start = order->size();
    for (size_t b = w; b < std::min(blocks.size(), w + kShuffleWindowBlocks); ++b) {
      for (int64_t p = blocks[b] * block_rows; p < std::min(n, (blocks[b] + 1) * block_rows); ++p) {
        order->push_back(static_cast<int>(p));
      }
    }
    std::shuffle(order->begin() + static_cast<std::ptrdiff_t>(window_start), order->end(), *rng);
  }
}

absl::StatusOr<std::unique_ptr<Model>> Trainer::Train(const Matrix& data,
                                                      absl::Span<const int> classes) {
  absl::Status batch = CheckBatch(data, options_.input_dim);
  if (!batch.ok()) {
    batch = absl::Status(batch.code(), absl::StrCat("training data: ", batch.message()));
  }
  // Eigen reports allocation failure by throwing; no exception leaves core.
  try {
    return TrainOrThrow(data, &data, classes, batch);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("training ran out of memory");
  }
}

absl::StatusOr<std::unique_ptr<Model>> Trainer::Train(const RowFile& file) {
  // Its values were checked finite when converted; the scaler's pass
  // refuses any that are not.
  const absl::Status columns = file.rows().cols() == options_.input_dim
                                   ? absl::OkStatus()
                                   : absl::InvalidArgumentError(absl::StrCat(
                                         file.path(), " has ", file.rows().cols(),
                                         " columns; the trainer takes ", options_.input_dim));
  try {
    return TrainOrThrow(file.rows(), nullptr, {}, columns);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("training ran out of memory");
  }
}

absl::StatusOr<std::unique_ptr<Model>> Trainer::TrainOrThrow(const Eigen::Ref<const Matrix>& data,
                                                             const Matrix* in_memory,
                                                             absl::Span<const int> classes,
                                                             const absl::Status& checked) {
  TrainingRun run(options_, config_, data, in_memory, classes);
  return run.Train(checked);
}

}  // namespace strata
