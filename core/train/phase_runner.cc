#include "core/train/phase_runner.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <numeric>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "core/base/cancellation.h"
#include "core/data/class_labels.h"
#include "core/nn/optimizer.h"
#include "core/train/data_parallel.h"
#include "core/train/epoch_policies.h"
#include "core/train/supervised_evaluation.h"
#include "core/train/train_config.h"

namespace strata {
namespace train_internal {

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

absl::Status Diverged(absl::string_view what, v1::EpochRecord::Phase phase, int layer) {
  return absl::FailedPreconditionError(absl::StrCat(
      "training diverged (", what,
      phase == v1::EpochRecord::PRETRAIN ? absl::StrCat(" of pretraining layer ", layer) : "",
      "); lower optimizer.learning_rate or set grad_clip_norm"));
}

namespace {

// The optimizer's config for a phase: the supervised phase has its own
// rate, and a cosine schedule keeps its ratio.
v1::OptimizerConfig PhaseOptimizerConfig(const v1::TrainConfig& config,
                                         const PhaseRunner::Supervised* supervised) {
  if (supervised != nullptr && supervised->optimizer != nullptr) return *supervised->optimizer;
  v1::OptimizerConfig o = config.optimizer();
  if (supervised != nullptr) {
    const float lr = supervised->learning_rate;
    o.set_final_learning_rate(o.final_learning_rate() * lr / o.learning_rate());
    o.set_learning_rate(lr);
  }
  return o;
}

absl::Status Cancelled(int epoch) {
  return absl::CancelledError(absl::StrCat("training cancelled in epoch ", epoch));
}

}  // namespace

// One Run: the phase's fixed shapes, its scratch buffers, and its steps.
class PhaseRunner::Phase {
 public:
  Phase(PhaseRunner* runner, StackedAutoencoder* net, const RowSet& train, const RowSet& val,
        const ObjectiveOptions& objective, v1::EpochRecord::Phase phase, int layer,
        const Supervised* supervised, const std::vector<int>* positions, Optimizer* optimizer);

  absl::Status Run(const v1::OptimizerConfig& o, int epochs);

 private:
  // The tensors the steps update (or their gradients): with a head, the
  // layers its objective reaches and the head.
  std::vector<ParameterBlock<float>> Blocks(Parameters* p, ClassifierHead* h) const;
  // Shuffles order_ for the next epoch.
  void ShuffleEpoch();
  absl::Status TrainEpoch(int epoch, double* loss_sum, Eigen::Index* trained_rows);
  absl::Status TrainBatch(int epoch, Eigen::Index start, Eigen::Index n, bool cancelled,
                          double* loss_sum);
  // Appends the next batch_size unlabelled rows (if any) to clean_ and
  // input_, and kUnlabelled to batch_classes_, one per row.
  void AddUnlabelledRows();
  // Fetches this rank's rows of the batch at `start` into clean_ and
  // input_ (with noise, or the batch's classes); returns how many.
  Eigen::Index FetchBatch(Eigen::Index start, Eigen::Index n);
  // Data-parallel: the batch's losses over every rank's rows, and whether
  // any rank was cancelled, so that every rank takes the same decisions.
  absl::Status ReduceBatchLoss(int epoch, Eigen::Index mine, bool cancelled,
                               double* objective_value, double* step_loss);
  // Averages (data-parallel), clips and applies the batch's gradients.
  void Step(Eigen::Index mine, Eigen::Index n);
  v1::EpochRecord MakeEpochRecord(int epoch, double loss_sum, Eigen::Index trained_rows,
                                  Clock::time_point epoch_start);
  // The loss is checked before each step, not after the last one; and with
  // patience 0 (or no epoch better than the first) nothing was restored.
  absl::Status CheckWeightsFinite();

  PhaseRunner& runner_;
  StackedAutoencoder* const net_;
  const RowSet& train_;
  const RowSet& val_;
  const ObjectiveOptions& objective_;
  const v1::EpochRecord::Phase phase_;
  const int layer_;
  const Supervised* const supervised_;
  const std::vector<int>* const positions_;
  Optimizer* const optimizer_;
  ClassifierHead* const head_;  // null without a supervised phase
  // Every rank's training rows, and the global batch over them.
  Eigen::Index rows_ = 0;
  Eigen::Index batch_size_ = 0;
  bool has_val_ = false;
  bool batch_norm_ = false;
  int trained_layers_ = -1;

  Backprop<float> backprop_;
  Parameters grads_;
  ClassifierHead head_grads_;
  std::vector<int> batch_classes_;
  Supervision<float> supervision_;
  Matrix clean_, input_;
  std::vector<int> batch_rows_;
  std::vector<int> order_;        // the epoch's positions: passes_ shuffles of pass_order_
  std::vector<int> pass_order_;   // one pass's positions
  int64_t passes_ = 1;
  // The unlabelled rows each supervised step adds (none: empty), in the
  // order they are taken, and the next one's place in it.
  std::vector<int> unlabelled_order_;
  size_t unlabelled_next_ = 0;
  Matrix unlabelled_batch_;
};

PhaseRunner::Phase::Phase(PhaseRunner* runner, StackedAutoencoder* net, const RowSet& train,
                          const RowSet& val, const ObjectiveOptions& objective,
                          v1::EpochRecord::Phase phase, int layer, const Supervised* supervised,
                          const std::vector<int>* positions, Optimizer* optimizer)
    : runner_(*runner),
      net_(net),
      train_(train),
      val_(val),
      objective_(objective),
      phase_(phase),
      layer_(layer),
      supervised_(supervised),
      positions_(positions),
      optimizer_(optimizer),
      head_(supervised != nullptr ? supervised->head : nullptr) {
  rows_ = positions != nullptr ? static_cast<Eigen::Index>(positions->size()) : train.rows();
  const int num_ranks = runner_.ranks_ != nullptr ? runner_.ranks_->size() : 1;
  batch_size_ = std::min<Eigen::Index>(int64_t{runner_.config_.batch_size()} * num_ranks, rows_);
  // Shallow pretraining networks have no hidden layer, so no normalisation.
  for (int l = 0; l < net->num_layers(); ++l) batch_norm_ |= net->has_batch_norm(l);
  if (supervised != nullptr) {
    supervision_.head = head_;
    supervision_.grads = &head_grads_;
  }
  // None with a frozen encoder, the encoder alone without the
  // reconstruction term.
  trained_layers_ = supervised == nullptr                  ? -1
                    : objective.frozen_encoder             ? 0
                    : objective.reconstruction_weight == 0 ? net->depth()
                                                           : -1;
  // A rank may hold none of a batch's rows: its gradient is then zero.
  if (runner_.ranks_ != nullptr) grads_.ResizeLikeAndZero(net->parameters());
  // A supervised epoch over few labelled rows is a few steps: it makes at
  // least kMinSupervisedBatches, passing over the rows as often as that
  // takes (each pass shuffled on its own), so that the phase's epochs,
  // patience and plateaus mean enough steps whatever the labelled count.
  if (supervised != nullptr && batch_size_ > 0) {
    passes_ = std::max<int64_t>(
        1, (kMinSupervisedBatches * batch_size_ + rows_ - 1) / std::max<Eigen::Index>(rows_, 1));
  }
  pass_order_.resize(static_cast<size_t>(rows_));
  std::iota(pass_order_.begin(), pass_order_.end(), 0);
  order_ = pass_order_;
  if (supervised != nullptr && supervised->unlabelled != nullptr && trained_layers_ == -1 &&
      objective.reconstruction_weight > 0) {
    unlabelled_order_.resize(static_cast<size_t>(supervised->unlabelled->rows()));
    std::iota(unlabelled_order_.begin(), unlabelled_order_.end(), 0);
    unlabelled_next_ = unlabelled_order_.size();  // shuffled before the first is taken
  }
}

std::vector<ParameterBlock<float>> PhaseRunner::Phase::Blocks(Parameters* p,
                                                              ClassifierHead* h) const {
  std::vector<ParameterBlock<float>> b;
  if (trained_layers_ != 0) b = p->Blocks(trained_layers_);
  if (supervised_ != nullptr) {
    for (const ParameterBlock<float>& block : h->Blocks()) b.push_back(block);
  }
  return b;
}

absl::Status PhaseRunner::Phase::Run(const v1::OptimizerConfig& o, int epochs) {
  double val_rows[1] = {static_cast<double>(val_.rows())};
  SumOverRanks(runner_.ranks_, absl::MakeSpan(val_rows));
  has_val_ = val_rows[0] > 0;

  const bool cosine = o.schedule() == v1::OptimizerConfig::COSINE;
  const CosineLearningRate cosine_rate(o.learning_rate(), o.final_learning_rate(), epochs);
  EarlyStopping stopping(runner_.config_.early_stopping());
  // A cosine schedule sets every epoch's rate: no plateau lowers it.
  const v1::ReduceLrOnPlateauConfig& p = runner_.config_.reduce_lr_on_plateau();
  PlateauLearningRate plateau(cosine ? 0 : p.patience(), p.factor(), p.min_learning_rate());
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    const Clock::time_point epoch_start = Clock::now();
    if (cosine) optimizer_->set_learning_rate(cosine_rate.At(epoch));
    ShuffleEpoch();
    double loss_sum = 0;
    Eigen::Index trained_rows = 0;
    if (absl::Status s = TrainEpoch(epoch, &loss_sum, &trained_rows); !s.ok()) return s;
    const v1::EpochRecord record = MakeEpochRecord(epoch, loss_sum, trained_rows, epoch_start);
    runner_.EndEpoch(record);
    // A supervised phase with fewer labelled validation rows than make an
    // estimate (kMinLabelledValidationRows) watches its training objective:
    // early stopping on a dozen rows stops at noise (with 100 MNIST labels,
    // 14 validation rows stopped the fine-tuning after 26 epochs).
    const bool watch_val =
        has_val_ && (supervised_ == nullptr || val_rows[0] >= kMinLabelledValidationRows);
    const double monitored = watch_val ? record.validation_loss() : record.train_loss();
    if (stopping.EndEpoch(monitored, net_->parameters(), head_)) break;
    if (std::optional<float> lr = plateau.EndEpoch(monitored, optimizer_->learning_rate())) {
      optimizer_->set_learning_rate(*lr);
    }
  }
  stopping.RestoreBest(net_->mutable_parameters(), head_);
  return CheckWeightsFinite();
}

void PhaseRunner::Phase::ShuffleEpoch() {
  if (passes_ == 1) {
    ShuffleOrder(runner_.shuffle_block_rows_, runner_.rng_, &order_);
    return;
  }
  order_.clear();
  for (int64_t p = 0; p < passes_; ++p) {
    ShuffleOrder(runner_.shuffle_block_rows_, runner_.rng_, &pass_order_);
    order_.insert(order_.end(), pass_order_.begin(), pass_order_.end());
  }
}

absl::Status PhaseRunner::Phase::TrainEpoch(int epoch, double* loss_sum,
                                            Eigen::Index* trained_rows) {
  const Eigen::Index epoch_rows = static_cast<Eigen::Index>(order_.size());
  for (Eigen::Index start = 0; start < epoch_rows; start += batch_size_) {
    const bool cancelled = !CheckCancel(runner_.options_.cancel, "training").ok();
    if (cancelled && runner_.ranks_ == nullptr) return Cancelled(epoch);
    const Eigen::Index n = std::min(batch_size_, epoch_rows - start);
    // A last batch of one row has no batch statistics (PyTorch refuses
    // it): with normalisation, that row waits for the next epoch's order.
    if (batch_norm_ && n < 2 && rows_ > 1) continue;
    *trained_rows += n;
    if (absl::Status s = TrainBatch(epoch, start, n, cancelled, loss_sum); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status PhaseRunner::Phase::TrainBatch(int epoch, Eigen::Index start, Eigen::Index n,
                                            bool cancelled, double* loss_sum) {
  const Eigen::Index mine = FetchBatch(start, n);
  LossBreakdown loss;
  if (mine > 0) {
    loss = backprop_.Compute(*net_, input_, clean_, objective_, runner_.row_rng_, &grads_,
                             supervised_ != nullptr ? &supervision_ : nullptr);
  }
  // The supervised objective without its sparsity term, as the data
  // loss is the unsupervised one's.
  double step_loss = loss.classification_loss + loss.reconstruction_weight * loss.data_loss;
  double objective_value = loss.objective();
  if (runner_.ranks_ != nullptr) {
    if (absl::Status s = ReduceBatchLoss(epoch, mine, cancelled, &objective_value, &step_loss);
        !s.ok()) {
      return s;
    }
  }
  if (!std::isfinite(objective_value)) {
    return Diverged(absl::StrCat("loss is not finite in epoch ", epoch), phase_, layer_);
  }
  *loss_sum += step_loss * static_cast<double>(n);
  Step(mine, n);
  return absl::OkStatus();
}

Eigen::Index PhaseRunner::Phase::FetchBatch(Eigen::Index start, Eigen::Index n) {
  // This rank's rows of the batch (all of them in one process).
  batch_rows_.clear();
  for (Eigen::Index i = 0; i < n; ++i) {
    const int p = order_[start + i];
    const int l = positions_ != nullptr ? (*positions_)[p] : p;
    if (l >= 0) batch_rows_.push_back(l);
  }
  const Eigen::Index mine = static_cast<Eigen::Index>(batch_rows_.size());
  train_.Fetch(batch_rows_.data(), mine, &clean_);
  input_ = clean_;
  if (supervised_ != nullptr) {
    batch_classes_.resize(static_cast<size_t>(n));
    for (Eigen::Index i = 0; i < n; ++i) {
      batch_classes_[i] = (*supervised_->train_classes)[order_[start + i]];
    }
    AddUnlabelledRows();
    supervision_.classes = batch_classes_;
  } else {
    runner_.AddNoise(&input_);
  }
  return mine;
}

void PhaseRunner::Phase::AddUnlabelledRows() {
  if (unlabelled_order_.empty()) return;
  const size_t want =
      std::min<size_t>(static_cast<size_t>(runner_.config_.batch_size()), unlabelled_order_.size());
  batch_rows_.clear();
  while (batch_rows_.size() < want) {
    if (unlabelled_next_ == unlabelled_order_.size()) {
      std::shuffle(unlabelled_order_.begin(), unlabelled_order_.end(), *runner_.rng_);
      unlabelled_next_ = 0;
    }
    batch_rows_.push_back(unlabelled_order_[unlabelled_next_++]);
  }
  const Eigen::Index labelled = clean_.rows();
  const Eigen::Index added = static_cast<Eigen::Index>(want);
  supervised_->unlabelled->Fetch(batch_rows_.data(), added, &unlabelled_batch_);
  clean_.conservativeResize(labelled + added, Eigen::NoChange);
  clean_.bottomRows(added) = unlabelled_batch_;
  input_ = clean_;
  batch_classes_.resize(batch_classes_.size() + want, kUnlabelled);
}

absl::Status PhaseRunner::Phase::ReduceBatchLoss(int epoch, Eigen::Index mine, bool cancelled,
                                                 double* objective_value, double* step_loss) {
  double sums[4] = {*objective_value * static_cast<double>(mine),
                    *step_loss * static_cast<double>(mine), static_cast<double>(mine),
                    cancelled ? 1.0 : 0.0};
  runner_.ranks_->AllReduce(absl::MakeSpan(sums), Collective::Op::kSum);
  if (sums[3] > 0) return Cancelled(epoch);
  *objective_value = sums[0] / sums[2];
  *step_loss = sums[1] / sums[2];
  return absl::OkStatus();
}

void PhaseRunner::Phase::Step(Eigen::Index mine, Eigen::Index n) {
  if (runner_.ranks_ != nullptr) {
    AverageGradientsOverRanks(runner_.ranks_, Blocks(&grads_, &head_grads_), mine, n,
                              &runner_.reduce_buffer_);
  }
  std::vector<ParameterBlock<float>> grad_blocks = Blocks(&grads_, &head_grads_);
  const float clip = runner_.config_.grad_clip_norm();
  if (clip > 0) ClipGradientNorm(clip, grad_blocks);
  optimizer_->Step(Blocks(net_->mutable_parameters(), head_), grad_blocks);
  if (batch_norm_) {
    net_->UpdateRunningStatistics(backprop_.batch_means(), backprop_.batch_variances(), n,
                                  runner_.config_.batch_norm_momentum());
  }
}

v1::EpochRecord PhaseRunner::Phase::MakeEpochRecord(int epoch, double loss_sum,
                                                    Eigen::Index trained_rows,
                                                    Clock::time_point epoch_start) {
  v1::EpochRecord record;
  record.set_phase(phase_);
  record.set_layer(layer_);
  record.set_epoch(epoch);
  record.set_train_loss(loss_sum / static_cast<double>(std::max<Eigen::Index>(trained_rows, 1)));
  if (has_val_ && supervised_ != nullptr) {
    const SupervisedEvaluation e = EvaluateSupervised(
        *net_, *supervised_->head, *supervised_->val, *supervised_->val_classes,
        objective_.frozen_encoder ? 0 : objective_.reconstruction_weight, objective_.loss);
    record.set_validation_loss(e.objective);
    record.set_validation_accuracy(e.accuracy);
  } else if (has_val_) {
    record.set_validation_loss(GlobalLoss(runner_.ranks_, *net_, val_, objective_.loss));
  }
  record.set_learning_rate(optimizer_->learning_rate());
  record.set_seconds(SecondsSince(epoch_start));
  return record;
}

absl::Status PhaseRunner::Phase::CheckWeightsFinite() {
  for (const ParameterBlock<float>& block : Blocks(net_->mutable_parameters(), head_)) {
    if (!Eigen::Map<const Eigen::ArrayXf>(block.data, block.size).allFinite()) {
      return Diverged("the weights are not finite after the last step", phase_, layer_);
    }
  }
  return absl::OkStatus();
}

absl::Status PhaseRunner::Run(StackedAutoencoder* net, const RowSet& train, const RowSet& val,
                              const ObjectiveOptions& objective, int epochs,
                              v1::EpochRecord::Phase phase, int layer, const Supervised* supervised,
                              const std::vector<int>* positions) {
  const v1::OptimizerConfig o = PhaseOptimizerConfig(config_, supervised);
  absl::StatusOr<std::unique_ptr<Optimizer>> optimizer =
      Optimizer::Create(o, config_.weight_decay());
  if (!optimizer.ok()) return optimizer.status();
  Phase run(this, net, train, val, objective, phase, layer, supervised, positions,
            optimizer->get());
  return run.Run(o, epochs);
}

void PhaseRunner::AddNoise(Matrix* batch) {
  const v1::NoiseConfig& noise = config_.noise();
  if (noise.kind() == v1::NoiseConfig::GAUSSIAN && noise.stddev() > 0) {
    std::normal_distribution<float> normal(0.0f, noise.stddev());
    for (Eigen::Index i = 0; i < batch->size(); ++i) batch->data()[i] += normal(*row_rng_);
  } else if (noise.kind() == v1::NoiseConfig::MASKING && noise.mask_fraction() > 0) {
    std::bernoulli_distribution drop(noise.mask_fraction());
    for (Eigen::Index i = 0; i < batch->size(); ++i) {
      if (drop(*row_rng_)) batch->data()[i] = 0.0f;
    }
  }
}

void PhaseRunner::EndEpoch(const v1::EpochRecord& record) {
  history_->push_back(record);
  ++*epochs_done_;
  if (!options_.on_epoch) return;
  TrainProgress progress;
  progress.record = record;
  progress.epochs_done = *epochs_done_;
  progress.epochs_planned = epochs_planned_;
  progress.network = network_;
  progress.networks = networks_;
  progress.elapsed_seconds = SecondsSince(start_);
  progress.eta_seconds =
      progress.elapsed_seconds / *epochs_done_ * std::max(0, epochs_planned_ - *epochs_done_);
  options_.on_epoch(progress);
}

}  // namespace train_internal
}  // namespace strata
