#include "core/train/trainer.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <deque>
#include <limits>
#include <new>
#include <numeric>
#include <optional>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "core/base/cancellation.h"
#include "core/base/crc32c.h"
#include "core/data/class_labels.h"
#include "core/data/scaler.h"
#include "core/nn/backprop.h"
#include "core/nn/classifier_head.h"
#include "core/nn/optimizer.h"
#include "core/nn/stacked_autoencoder.h"
#include "core/scoring/anomaly.h"
#include "core/scoring/drift.h"
#include "core/scoring/ensemble_score.h"
#include "core/train/train_config.h"

#ifndef STRATA_VERSION
#define STRATA_VERSION "dev"
#endif

namespace strata {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Rows `rows` of the stack of `top` over `bottom` (row i of `bottom` is row
// top.rows() + i).
Matrix GatherRows(const Matrix& top, const Matrix& bottom, const std::vector<int>& rows) {
  Matrix out(static_cast<Eigen::Index>(rows.size()), top.cols());
  for (size_t i = 0; i < rows.size(); ++i) {
    const Eigen::Index r = rows[i];
    out.row(static_cast<Eigen::Index>(i)) =
        r < top.rows() ? top.row(r) : bottom.row(r - top.rows());
  }
  return out;
}

// Every split of the trainer: positions 0 .. n-1 shuffled with `rng`, the
// first `val_rows` of the shuffle held out; both sets in ascending order, so
// that a validation loss sums its rows in the same order whether they are
// gathered in memory or read from a row file (in the shuffle's order the
// two paths summed differently ordered rows, and ended a few ulps apart).
void SplitPositions(int64_t n, int64_t val_rows, std::mt19937_64* rng, std::vector<int>* train,
                    std::vector<int>* val) {
  std::vector<int> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), *rng);
  val->assign(perm.begin(), perm.begin() + val_rows);
  train->assign(perm.begin() + val_rows, perm.end());
  std::sort(val->begin(), val->end());
  std::sort(train->begin(), train->end());
}

// Shuffles the rows of `top` stacked over `bottom` with `rng` and holds out
// the first `val_rows` of them; both sets keep their rows' order.
void SplitRows(const Matrix& top, const Matrix& bottom, int val_rows, std::mt19937_64* rng,
               Matrix* train, Matrix* val) {
  std::vector<int> train_rows, val_rows_idx;
  SplitPositions(top.rows() + bottom.rows(), val_rows, rng, &train_rows, &val_rows_idx);
  *train = GatherRows(top, bottom, train_rows);
  *val = GatherRows(top, bottom, val_rows_idx);
}

// The rows of `x` whose class (classes[idx[i]] for row i) is labelled, and
// their classes.
void LabelledRows(const Matrix& x, const std::vector<int>& idx, absl::Span<const int> classes,
                  Matrix* rows, std::vector<int>* row_classes) {
  std::vector<int> keep;
  row_classes->clear();
  for (size_t i = 0; i < idx.size(); ++i) {
    const int c = classes[static_cast<size_t>(idx[i])];
    if (c == kUnlabelled) continue;
    keep.push_back(static_cast<int>(i));
    row_classes->push_back(c);
  }
  *rows = GatherRows(x, Matrix(0, x.cols()), keep);
}

// The supervised objective of a head (and its network) on labelled rows, in
// chunks, and its accuracy; each row's predicted class when `predicted` is
// not null.
struct SupervisedEvaluation {
  double objective = 0;  // Cross-entropy + reconstruction_weight x loss.
  double accuracy = 0;
};
SupervisedEvaluation EvaluateSupervised(const StackedAutoencoder& net, const ClassifierHead& head,
                                        const Matrix& x, const std::vector<int>& classes,
                                        double reconstruction_weight, v1::Loss loss,
                                        std::vector<int>* predicted = nullptr) {
  constexpr Eigen::Index kChunk = 4096;
  SupervisedEvaluation e;
  if (predicted != nullptr) predicted->clear();
  int64_t correct = 0;
  Matrix code;
  for (Eigen::Index start = 0; start < x.rows(); start += kChunk) {
    const Eigen::Index n = std::min(kChunk, x.rows() - start);
    const Matrix chunk = x.middleRows(start, n);
    if (reconstruction_weight > 0) {
      e.objective += reconstruction_weight *
                     DataLoss<float>(loss, net.Reconstruct(chunk, &code), chunk) *
                     static_cast<double>(n);
    } else {
      code = net.Encode(chunk, net.depth());
    }
    const absl::Span<const int> chunk_classes(classes.data() + start, static_cast<size_t>(n));
    e.objective +=
        CrossEntropy<float>(head, code, chunk_classes, nullptr, nullptr) * static_cast<double>(n);
    const std::vector<int> top = TopClasses(head.Probabilities(code));
    for (Eigen::Index i = 0; i < n; ++i) correct += top[i] == chunk_classes[i];
    if (predicted != nullptr) predicted->insert(predicted->end(), top.begin(), top.end());
  }
  const double rows = static_cast<double>(std::max<Eigen::Index>(x.rows(), 1));
  e.objective /= rows;
  e.accuracy = static_cast<double>(correct) / rows;
  return e;
}

// The rows of a training set in the network's input units, fetched by
// position: a matrix's rows (in memory), or rows `index` of the raw data (a
// row file's mapping), scaled as they are fetched and encoded through the
// frozen layers below the one being pretrained, so that no copy of the
// whole set is held. Cheap to copy; refers to what it was made from.
class RowSet {
 public:
  explicit RowSet(const Matrix& rows)
      : data_(rows.data()), rows_(rows.rows()), cols_(rows.cols()), stride_(rows.cols()) {}
  RowSet(const Eigen::Ref<const Matrix>& raw, const Scaler* scaler, const std::vector<int>* index)
      : data_(raw.data()),
        rows_(static_cast<Eigen::Index>(index->size())),
        cols_(raw.cols()),
        stride_(raw.outerStride()),
        scaler_(scaler),
        index_(index) {}
  // These rows encoded through `encoder`'s first layer, as fetched.
  RowSet Through(const StackedAutoencoder* encoder) const {
    RowSet through = *this;
    through.encoders_.push_back(encoder);
    return through;
  }
  Eigen::Index rows() const { return rows_; }
  Eigen::Index cols() const { return encoders_.empty() ? cols_ : encoders_.back()->layer_out(0); }
  void Fetch(const int* positions, Eigen::Index n, Matrix* out) const {
    out->resize(n, cols_);
    for (Eigen::Index i = 0; i < n; ++i) CopyRow(positions[i], out->row(i).data());
    Finish(out);
  }
  void FetchRange(Eigen::Index begin, Eigen::Index n, Matrix* out) const {
    out->resize(n, cols_);
    for (Eigen::Index i = 0; i < n; ++i) CopyRow(begin + i, out->row(i).data());
    Finish(out);
  }

 private:
  void CopyRow(Eigen::Index position, float* out) const {
    const Eigen::Index row = index_ != nullptr ? (*index_)[position] : position;
    std::memcpy(out, data_ + row * stride_, sizeof(float) * static_cast<size_t>(cols_));
  }
  void Finish(Matrix* out) const {
    if (scaler_ != nullptr) *out = scaler_->Transform(*out);
    for (const StackedAutoencoder* encoder : encoders_) *out = encoder->Encode(*out, 1);
  }

  const float* data_;
  Eigen::Index rows_, cols_, stride_;
  const Scaler* scaler_ = nullptr;
  const std::vector<int>* index_ = nullptr;
  std::vector<const StackedAutoencoder*> encoders_;
};

// Loss over a whole set, in chunks to bound the memory of the forward pass.
double EvaluateLoss(const StackedAutoencoder& net, const RowSet& x, v1::Loss loss) {
  constexpr Eigen::Index kChunk = 4096;
  double sum = 0;
  Matrix chunk;
  for (Eigen::Index start = 0; start < x.rows(); start += kChunk) {
    const Eigen::Index n = std::min(kChunk, x.rows() - start);
    x.FetchRange(start, n, &chunk);
    sum += DataLoss<float>(loss, net.Reconstruct(chunk), chunk) * static_cast<double>(n);
  }
  return sum / static_cast<double>(x.rows());
}

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

// Sums `values` over the ranks (nothing alone).
void SumOverRanks(Collective* ranks, absl::Span<double> values) {
  if (ranks != nullptr) ranks->AllReduce(values, Collective::Op::kSum);
}

// EvaluateLoss over every rank's rows of a set (`x`: this rank's).
double GlobalLoss(Collective* ranks, const StackedAutoencoder& net, const RowSet& x,
                  v1::Loss loss) {
  if (ranks == nullptr) return EvaluateLoss(net, x, loss);
  double sums[2] = {x.rows() ? EvaluateLoss(net, x, loss) * static_cast<double>(x.rows()) : 0.0,
                    static_cast<double>(x.rows())};
  SumOverRanks(ranks, absl::MakeSpan(sums));
  return sums[0] / std::max(sums[1], 1.0);
}

// SplitPositions over every rank's rows: the same shuffle of all of them on
// every rank holds out the first `val_rows`; this rank keeps its own rows
// (local indices) of each split, the training rows in their global order.
// Data-parallel, positions[p] is the local training row of global training
// position p (-1: another rank's); in one process it stays empty.
void SplitOwnedRows(const RowMap& map, int64_t val_rows, std::mt19937_64* rng,
                    std::vector<int>* train_idx, std::vector<int>* val_idx,
                    std::vector<int>* positions) {
  std::vector<int> train_global, val_global;
  SplitPositions(map.global, val_rows, rng, &train_global, &val_global);
  train_idx->clear();
  val_idx->clear();
  positions->assign(map.size > 1 ? train_global.size() : 0, -1);
  for (size_t p = 0; p < train_global.size(); ++p) {
    const int64_t l = map.Local(train_global[p]);
    if (l < 0) continue;
    if (map.size > 1) (*positions)[p] = static_cast<int>(train_idx->size());
    train_idx->push_back(static_cast<int>(l));
  }
  for (int g : val_global) {
    const int64_t l = map.Local(g);
    if (l >= 0) val_idx->push_back(static_cast<int>(l));
  }
}

// SplitRows over the indices of two sets (rows of the data), for rows that
// are not in memory: the same rows in the same order as SplitRows gives
// (each set by its position in `top` then `bottom`).
void SplitIndices(const std::vector<int>& top, const std::vector<int>& bottom, int val_rows,
                  std::mt19937_64* rng, std::vector<int>* train, std::vector<int>* val) {
  SplitPositions(static_cast<int64_t>(top.size() + bottom.size()), val_rows, rng, train, val);
  const auto row = [&](int& p) {
    p = static_cast<size_t>(p) < top.size() ? top[static_cast<size_t>(p)]
                                            : bottom[static_cast<size_t>(p) - top.size()];
  };
  std::for_each(train->begin(), train->end(), row);
  std::for_each(val->begin(), val->end(), row);
}

// Every rank's rows with global index a multiple of `stride`, in global
// order, on every rank (`data`: this rank's; null `ranks`: all of them).
Matrix GatherEveryRank(Collective* ranks, const RowMap& map, const Eigen::Ref<const Matrix>& data,
                       int64_t stride) {
  if (ranks == nullptr) {
    Matrix out((data.rows() + stride - 1) / stride, data.cols());
    for (Eigen::Index r = 0; r < out.rows(); ++r) out.row(r) = data.row(r * stride);
    return out;
  }
  std::string mine;
  for (int64_t l = 0; l < data.rows(); ++l) {
    const int64_t g = map.Global(l);
    if (g % stride != 0) continue;
    mine.append(reinterpret_cast<const char*>(&g), sizeof(g));
    const RowVector row = data.row(l);
    mine.append(reinterpret_cast<const char*>(row.data()), sizeof(float) * row.size());
  }
  const std::vector<std::string> all = ranks->AllGather(mine);
  Matrix out((map.global + stride - 1) / stride, data.cols());
  const size_t record = sizeof(int64_t) + sizeof(float) * static_cast<size_t>(data.cols());
  for (const std::string& part : all) {
    for (size_t at = 0; at + record <= part.size(); at += record) {
      int64_t g = 0;
      std::memcpy(&g, part.data() + at, sizeof(g));
      RowVector row(data.cols());
      std::memcpy(row.data(), part.data() + at + sizeof(g), record - sizeof(g));
      out.row(g / stride) = row;
    }
  }
  return out;
}

absl::Status Diverged(absl::string_view what, v1::EpochRecord::Phase phase, int layer) {
  return absl::FailedPreconditionError(absl::StrCat(
      "training diverged (", what,
      phase == v1::EpochRecord::PRETRAIN ? absl::StrCat(" of pretraining layer ", layer) : "",
      "); lower optimizer.learning_rate or set grad_clip_norm"));
}

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

// One training phase (pretraining of one layer, or fine-tuning) of a network.
// Not thread-safe.
class PhaseRunner {
 public:
  // `rng` shuffles (the same stream on every rank); `row_rng` draws noise
  // and dropout (this rank's own when data-parallel, else `rng`).
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
  void AddNoise(Matrix* batch);
  // Replaces this rank's gradient (a mean over its `mine` rows of the
  // batch) with the mean over the batch's `n` rows on every rank.
  void AverageOverRanks(const std::vector<ParameterBlock<float>>& grads, Eigen::Index mine,
                        Eigen::Index n);

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

void PhaseRunner::AverageOverRanks(const std::vector<ParameterBlock<float>>& grads,
                                   Eigen::Index mine, Eigen::Index n) {
  // Backprop's gradients are means over this rank's rows: as sums, added
  // over the ranks in one all-reduce, then the mean over the batch.
  size_t total = 0;
  for (const ParameterBlock<float>& b : grads) total += static_cast<size_t>(b.size);
  reduce_buffer_.resize(total);
  float* at = reduce_buffer_.data();
  const float weight = static_cast<float>(mine);
  for (const ParameterBlock<float>& b : grads) {
    for (Eigen::Index i = 0; i < b.size; ++i) at[i] = mine > 0 ? b.data[i] * weight : 0.0f;
    at += b.size;
  }
  ranks_->AllReduce(absl::MakeSpan(reduce_buffer_), Collective::Op::kSum);
  at = reduce_buffer_.data();
  const float scale = 1.0f / static_cast<float>(n);
  for (const ParameterBlock<float>& b : grads) {
    for (Eigen::Index i = 0; i < b.size; ++i) b.data[i] = at[i] * scale;
    at += b.size;
  }
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

absl::Status PhaseRunner::Run(StackedAutoencoder* net, const RowSet& train, const RowSet& val,
                              const ObjectiveOptions& objective, int epochs,
                              v1::EpochRecord::Phase phase, int layer, const Supervised* supervised,
                              const std::vector<int>* positions) {
  v1::OptimizerConfig o = config_.optimizer();
  if (supervised != nullptr) {
    // The supervised phase's own rate; a cosine schedule keeps its ratio.
    const float lr = config_.supervised().learning_rate();
    o.set_final_learning_rate(o.final_learning_rate() * lr / o.learning_rate());
    o.set_learning_rate(lr);
  }
  absl::StatusOr<std::unique_ptr<Optimizer>> optimizer =
      Optimizer::Create(o, config_.weight_decay());
  if (!optimizer.ok()) return optimizer.status();
  const v1::EarlyStoppingConfig& es = config_.early_stopping();
  const v1::ReduceLrOnPlateauConfig& plateau = config_.reduce_lr_on_plateau();
  // Every rank's training rows, and the global batch over them.
  const Eigen::Index rows =
      positions != nullptr ? static_cast<Eigen::Index>(positions->size()) : train.rows();
  const int num_ranks = ranks_ != nullptr ? ranks_->size() : 1;
  const Eigen::Index batch_size =
      std::min<Eigen::Index>(int64_t{config_.batch_size()} * num_ranks, rows);
  double val_rows[1] = {static_cast<double>(val.rows())};
  SumOverRanks(ranks_, absl::MakeSpan(val_rows));
  const bool has_val = val_rows[0] > 0;
  // Shallow pretraining networks have no hidden layer, so no normalisation.
  bool batch_norm = false;
  for (int l = 0; l < net->num_layers(); ++l) batch_norm |= net->has_batch_norm(l);

  Backprop<float> backprop;
  Parameters grads;
  ClassifierHead head_grads;
  std::vector<int> batch_classes;
  Supervision<float> supervision;
  ClassifierHead* const head = supervised != nullptr ? supervised->head : nullptr;
  if (supervised != nullptr) {
    supervision.head = head;
    supervision.grads = &head_grads;
  }
  // What the steps update: with a head, the layers its objective reaches
  // (none with a frozen encoder, the encoder alone without the
  // reconstruction term) and the head.
  const int trained_layers = supervised == nullptr                  ? -1
                             : objective.frozen_encoder             ? 0
                             : objective.reconstruction_weight == 0 ? net->depth()
                                                                    : -1;
  const auto blocks = [&](Parameters* p, ClassifierHead* h) {
    std::vector<ParameterBlock<float>> b;
    if (trained_layers != 0) b = p->Blocks(trained_layers);
    if (supervised != nullptr) {
      for (const ParameterBlock<float>& block : h->Blocks()) b.push_back(block);
    }
    return b;
  };
  Matrix clean, input;
  std::vector<int> batch_rows;
  // A rank may hold none of a batch's rows: its gradient is then zero.
  if (ranks_ != nullptr) grads.ResizeLikeAndZero(net->parameters());
  std::vector<int> order(static_cast<size_t>(rows));
  std::iota(order.begin(), order.end(), 0);

  double best = std::numeric_limits<double>::infinity();
  double plateau_best = best;
  int since_best = 0, since_plateau_best = 0;
  std::optional<Parameters> best_params;
  std::optional<ClassifierHead> best_head;

  const bool cosine = o.schedule() == v1::OptimizerConfig::COSINE;
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    const Clock::time_point epoch_start = Clock::now();
    if (cosine) {
      constexpr double kPi = 3.14159265358979323846;
      (*optimizer)
          ->set_learning_rate(static_cast<float>(
              o.final_learning_rate() + (o.learning_rate() - o.final_learning_rate()) *
                                            (1 + std::cos(kPi * (epoch - 1) / epochs)) / 2));
    }
    ShuffleOrder(shuffle_block_rows_, rng_, &order);
    double loss_sum = 0;
    Eigen::Index trained_rows = 0;
    for (Eigen::Index start = 0; start < rows; start += batch_size) {
      const bool cancelled = !CheckCancel(options_.cancel, "training").ok();
      if (cancelled && ranks_ == nullptr) {
        return absl::CancelledError(absl::StrCat("training cancelled in epoch ", epoch));
      }
      const Eigen::Index n = std::min(batch_size, rows - start);
      // A last batch of one row has no batch statistics (PyTorch refuses
      // it): with normalisation, that row waits for the next epoch's order.
      if (batch_norm && n < 2 && rows > 1) continue;
      trained_rows += n;
      // This rank's rows of the batch (all of them in one process).
      batch_rows.clear();
      for (Eigen::Index i = 0; i < n; ++i) {
        const int p = order[start + i];
        const int l = positions != nullptr ? (*positions)[p] : p;
        if (l >= 0) batch_rows.push_back(l);
      }
      const Eigen::Index mine = static_cast<Eigen::Index>(batch_rows.size());
      train.Fetch(batch_rows.data(), mine, &clean);
      input = clean;
      if (supervised != nullptr) {
        batch_classes.resize(static_cast<size_t>(n));
        for (Eigen::Index i = 0; i < n; ++i) {
          batch_classes[i] = (*supervised->train_classes)[order[start + i]];
        }
        supervision.classes = batch_classes;
      } else {
        AddNoise(&input);
      }
      LossBreakdown loss;
      if (mine > 0) {
        loss = backprop.Compute(*net, input, clean, objective, row_rng_, &grads,
                                supervised != nullptr ? &supervision : nullptr);
      }
      // The supervised objective without its sparsity term, as the data
      // loss is the unsupervised one's.
      double step_loss = loss.classification_loss + loss.reconstruction_weight * loss.data_loss;
      double objective_value = loss.objective();
      if (ranks_ != nullptr) {
        // The batch's loss over every rank's rows, and whether any rank was
        // cancelled: every rank takes the same decisions.
        double sums[4] = {objective_value * static_cast<double>(mine),
                          step_loss * static_cast<double>(mine), static_cast<double>(mine),
                          cancelled ? 1.0 : 0.0};
        ranks_->AllReduce(absl::MakeSpan(sums), Collective::Op::kSum);
        if (sums[3] > 0) {
          return absl::CancelledError(absl::StrCat("training cancelled in epoch ", epoch));
        }
        objective_value = sums[0] / sums[2];
        step_loss = sums[1] / sums[2];
      }
      if (!std::isfinite(objective_value)) {
        return Diverged(absl::StrCat("loss is not finite in epoch ", epoch), phase, layer);
      }
      loss_sum += step_loss * static_cast<double>(n);
      if (ranks_ != nullptr) AverageOverRanks(blocks(&grads, &head_grads), mine, n);
      std::vector<ParameterBlock<float>> grad_blocks = blocks(&grads, &head_grads);
      if (config_.grad_clip_norm() > 0) ClipGradientNorm(config_.grad_clip_norm(), grad_blocks);
      (*optimizer)->Step(blocks(net->mutable_parameters(), head), grad_blocks);
      if (batch_norm) {
        net->UpdateRunningStatistics(backprop.batch_means(), backprop.batch_variances(), n,
                                     config_.batch_norm_momentum());
      }
    }

    v1::EpochRecord record;
    record.set_phase(phase);
    record.set_layer(layer);
    record.set_epoch(epoch);
    record.set_train_loss(loss_sum / static_cast<double>(std::max<Eigen::Index>(trained_rows, 1)));
    if (has_val && supervised != nullptr) {
      const SupervisedEvaluation e = EvaluateSupervised(
          *net, *supervised->head, *supervised->val, *supervised->val_classes,
          objective.frozen_encoder ? 0 : objective.reconstruction_weight, objective.loss);
      record.set_validation_loss(e.objective);
      record.set_validation_accuracy(e.accuracy);
    } else if (has_val) {
      record.set_validation_loss(GlobalLoss(ranks_, *net, val, objective.loss));
    }
    record.set_learning_rate((*optimizer)->learning_rate());
    record.set_seconds(SecondsSince(epoch_start));
    history_->push_back(record);
    ++*epochs_done_;
    if (options_.on_epoch) {
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

    const double monitored = has_val ? record.validation_loss() : record.train_loss();
    if (monitored < best - es.min_delta()) {
      best = monitored;
      since_best = 0;
      if (es.patience() > 0) {
        best_params = net->parameters();
        if (supervised != nullptr) best_head = *supervised->head;
      }
    } else {
      ++since_best;
    }
    if (es.patience() > 0 && since_best >= es.patience()) break;
    // As PyTorch's ReduceLROnPlateau: reduce once more than `patience` epochs
    // have passed without improvement.
    if (monitored < plateau_best) {
      plateau_best = monitored;
      since_plateau_best = 0;
    } else if (!cosine && plateau.patience() > 0 && ++since_plateau_best > plateau.patience()) {
      const float lr =
          std::max(plateau.min_learning_rate(), (*optimizer)->learning_rate() * plateau.factor());
      (*optimizer)->set_learning_rate(lr);
      since_plateau_best = 0;
    }
  }
  if (best_params.has_value()) *net->mutable_parameters() = *std::move(best_params);
  if (best_head.has_value()) *head = *std::move(best_head);
  // The loss is checked before each step, not after the last one; and with
  // patience 0 (or no epoch better than the first) nothing was restored.
  for (const ParameterBlock<float>& block : blocks(net->mutable_parameters(), head)) {
    if (!Eigen::Map<const Eigen::ArrayXf>(block.data, block.size).allFinite()) {
      return Diverged("the weights are not finite after the last step", phase, layer);
    }
  }
  return absl::OkStatus();
}

// The shallow autoencoder that pretrains encoder layer m of `deep`, starting
// from the deep network's initial weights for that layer and its mirror.
absl::StatusOr<StackedAutoencoder> ShallowFor(const StackedAutoencoder& deep, int m) {
  const v1::Architecture& a = deep.architecture();
  v1::Architecture arch;
  arch.set_input_dim(deep.layer_in(m));
  arch.add_encoder_widths(deep.layer_out(m));
  arch.add_encoder_activations(a.encoder_activations(m));
  arch.set_output_activation(m == 0 ? a.output_activation() : a.encoder_activations(m - 1));
  arch.set_tied_weights(a.tied_weights());
  arch.set_leaky_relu_slope(a.leaky_relu_slope());
  const int mirror = deep.num_layers() - 1 - m;
  Parameters p;
  p.weights = {deep.parameters().weights[m], deep.parameters().weights[mirror]};
  p.biases = {deep.parameters().biases[m], deep.parameters().biases[mirror]};
  return StackedAutoencoder::FromParameters(arch, std::move(p));
}

// The supervised phase: a head on `net`'s code, trained on the labelled
// rows of the training split and watched on those of the validation split
// (classes[train_idx[i]] is the class of train's row i; likewise for val).
// Writes the head's figures into summary->classifier and its warnings.
absl::StatusOr<ClassifierHead> TrainHead(
    const v1::TrainConfig& config, const std::vector<std::string>& class_names,
    StackedAutoencoder* net, PhaseRunner* runner, const ObjectiveOptions& objective,
    const Matrix& train, const std::vector<int>& train_idx, const Matrix& val,
    const std::vector<int>& val_idx, absl::Span<const int> classes, v1::TrainingSummary* summary) {
  const int num_classes = static_cast<int>(class_names.size());
  Matrix labelled_train, labelled_val;
  std::vector<int> train_classes, val_classes;
  LabelledRows(train, train_idx, classes, &labelled_train, &train_classes);
  LabelledRows(val, val_idx, classes, &labelled_val, &val_classes);
  if (labelled_train.rows() == 0 && labelled_val.rows() == 0) {
    return absl::InvalidArgumentError(
        "none of the rows has a class label (each is kUnlabelled): nothing to train the "
        "classifier on");
  }
  if (labelled_train.rows() == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("all ", labelled_val.rows(),
                     " labelled rows fell in the validation split; label more rows, or lower "
                     "validation_fraction"));
  }
  const v1::SupervisedConfig& sc = config.supervised();
  const bool frozen = sc.mode() == v1::SupervisedConfig::FROZEN_ENCODER;
  ObjectiveOptions supervised = objective;
  supervised.frozen_encoder = frozen;
  supervised.reconstruction_weight = frozen ? 0 : sc.reconstruction_weight();
  // Its own seed, so that the head starts the same whatever came before.
  ClassifierHead head =
      ClassifierHead::Create(net->code_dim(), num_classes, config.seed() ^ 0x5eed'c1a55ULL);
  PhaseRunner::Supervised task{&head, &train_classes, &val_classes, &labelled_val};
  if (absl::Status s = runner->Run(net, RowSet(labelled_train), RowSet(labelled_val), supervised,
                                   sc.epochs(), v1::EpochRecord::SUPERVISED, 0, &task);
      !s.ok()) {
    return s;
  }

  v1::ClassifierSummary* c = summary->mutable_classifier();
  c->set_train_labelled_rows(labelled_train.rows());
  c->set_validation_labelled_rows(labelled_val.rows());
  std::vector<int64_t> counts(static_cast<size_t>(num_classes), 0);
  for (int k : classes) {
    if (k != kUnlabelled) ++counts[static_cast<size_t>(k)];
  }
  c->mutable_class_counts()->Assign(counts.begin(), counts.end());
  c->set_train_accuracy(
      EvaluateSupervised(*net, head, labelled_train, train_classes, 0, objective.loss).accuracy);
  std::vector<int64_t> confusion(static_cast<size_t>(num_classes) * num_classes, 0);
  if (labelled_val.rows() > 0) {
    std::vector<int> predicted;
    c->set_validation_accuracy(
        EvaluateSupervised(*net, head, labelled_val, val_classes, 0, objective.loss, &predicted)
            .accuracy);
    for (size_t i = 0; i < predicted.size(); ++i) {
      ++confusion[static_cast<size_t>(val_classes[i]) * num_classes + predicted[i]];
    }
    if (labelled_val.rows() < kMinLabelledValidationRows) {
      // A sweep choosing by this accuracy would choose by chance.
      summary->add_warnings(absl::StrFormat(
          "weak accuracy estimate: the classifier's validation accuracy %.3f rests on %d "
          "labelled validation rows (fewer than %d: its 95%% interval can be wider than "
          "+-0.1); label more rows, or raise validation_fraction",
          c->validation_accuracy(), labelled_val.rows(), kMinLabelledValidationRows));
    }
  } else {
    summary->add_warnings(
        "no labelled row is in the validation split: the classifier's accuracy is measured on "
        "its own training rows only; label more rows, or raise validation_fraction");
  }
  c->mutable_confusion()->Assign(confusion.begin(), confusion.end());
  std::vector<std::string> unseen;
  for (int k = 0; k < num_classes; ++k) {
    if (counts[static_cast<size_t>(k)] == 0) unseen.push_back(class_names[k]);
  }
  if (!unseen.empty()) {
    summary->add_warnings(absl::StrCat("no labelled row has class ", absl::StrJoin(unseen, ", "),
                                       ": the head never learned to predict it"));
  }
  // `classes` covers every row, labelled or not (one process: data-parallel
  // training refuses labels).
  if (std::optional<std::string> dominant =
          DominantClassWarning(counts, class_names, static_cast<int64_t>(classes.size()));
      dominant.has_value()) {
    summary->add_warnings(*std::move(dominant));
  }
  return head;
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
  const Clock::time_point start = Clock::now();
  const bool mapped = in_memory == nullptr;
  // Data-parallel when more than one rank takes part.
  Collective* const ranks = options_.collective != nullptr && options_.collective->size() > 1
                                ? options_.collective
                                : nullptr;
  if (absl::Status s = AgreeOnStatus(ranks, checked); !s.ok()) return s;
  if (ranks != nullptr) {
    // Labels are each rank's own: any rank's refuse them on every rank.
    if (absl::Status s = AgreeOnStatus(
            ranks, classes.empty() ? absl::OkStatus()
                                   : absl::InvalidArgumentError(
                                         "class labels (a classifier head) are not trained "
                                         "data-parallel: train it in one process"));
        !s.ok()) {
      return s;
    }
    // Refused alike on every rank: the config is the same everywhere.
    if (config_.batch_norm() != v1::BATCH_NORM_NONE) {
      return absl::InvalidArgumentError(
          "batch_norm: the ranks' batch statistics would differ, so data-parallel training "
          "refuses it; train in one process, or without batch_norm");
    }
    if (config_.anomaly().has_ensemble_size() && config_.anomaly().ensemble_size() > 1) {
      return absl::InvalidArgumentError(
          "anomaly.ensemble_size: data-parallel training trains one network; leave it out or "
          "set it to 1");
    }
  }
  const int num_classes = static_cast<int>(options_.class_names.size());
  if (!classes.empty()) {
    if (static_cast<Eigen::Index>(classes.size()) != data.rows() || num_classes == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(classes.size(), " class labels for ", data.rows(), " rows and ", num_classes,
                       " class names; a classifier needs one label (or kUnlabelled) per row"));
    }
    for (size_t r = 0; r < classes.size(); ++r) {
      if (classes[r] != kUnlabelled && (classes[r] < 0 || classes[r] >= num_classes)) {
        return absl::InvalidArgumentError(
            absl::StrCat("row ", r, ": class ", classes[r], " is not in [0, ", num_classes, ")"));
      }
    }
  }
  // Where this rank's rows sit among all of them.
  RowMap map;
  map.local = data.rows();
  map.global = data.rows();
  if (ranks != nullptr) {
    map.rank = ranks->rank();
    map.size = ranks->size();
    map.interleaved = options_.row_layout == Options::RowLayout::kInterleaved;
    std::vector<double> counts(static_cast<size_t>(map.size), 0.0);
    counts[static_cast<size_t>(map.rank)] = static_cast<double>(data.rows());
    ranks->AllReduce(absl::MakeSpan(counts), Collective::Op::kSum);
    map.global = 0;
    for (int r = 0; r < map.size; ++r) {
      if (r == map.rank) map.offset = map.global;
      map.global += static_cast<int64_t>(counts[static_cast<size_t>(r)]);
    }
    for (int r = 0; r < map.size && map.interleaved; ++r) {
      const int64_t expected = (map.global - r + map.size - 1) / map.size;
      if (static_cast<int64_t>(counts[static_cast<size_t>(r)]) != expected) {
        return absl::InvalidArgumentError(absl::StrCat(
            "rank ", r, " holds ", counts[static_cast<size_t>(r)], " rows; every ", map.size,
            "-th of ", map.global, " rows (the interleaved layout) is ", expected));
      }
    }
  }
  if (absl::Status s = CheckTrainingRows(config_, map.global); !s.ok()) return s;
  if (absl::Status s = CheckTrainingEpochs(config_, !classes.empty()); !s.ok()) return s;
  // OpenMP's thread count is per calling thread, and Eigen reads it when no
  // global count is set: concurrent jobs each get their own, with no shared
  // state to race on (Eigen::setNbThreads is process-wide).
  omp_set_num_threads(config_.threads() > 0 ? config_.threads() : omp_get_num_procs());
  // Rows are indexed with int below (and fit: --max_train_values bounds
  // what a server takes); refuse more rather than wrap.
  if (map.global > std::numeric_limits<int>::max()) {
    return absl::InvalidArgumentError(absl::StrCat("the training data has ", map.global,
                                                   " rows; at most ",
                                                   std::numeric_limits<int>::max(), " are taken"));
  }
  const int rows = static_cast<int>(map.global);
  // validation_fraction <= 0.9 always leaves at least one training row.
  const int val_rows = static_cast<int>(std::floor(config_.validation_fraction() * rows));

  // The scaler sees every row: live data is scaled the same way whichever
  // rows were held out, and BCE targets of held-out rows stay in [0, 1].
  absl::StatusOr<Scaler> scaler = Scaler::Fit(config_.scaler(), data, ranks);
  if (!scaler.ok()) return scaler.status();
  std::mt19937_64 rng(config_.seed());
  // Noise and dropout: each rank its own stream, so that the shuffles (from
  // `rng`) stay the same on every rank.
  std::mt19937_64 row_rng(config_.seed() ^ (0x9e3779b97f4a7c15ULL * (map.rank + 1)));
  Matrix train, val;
  std::vector<int> train_idx, val_idx;  // The data rows each split took.
  std::vector<int> positions;           // Data-parallel: see SplitOwnedRows.
  if (config_.loss() == v1::BCE) {
    const std::string whose = ranks != nullptr ? absl::StrCat("rank ", map.rank, "'s training data")
                              : mapped         ? std::string("the row file's")
                                               : std::string("training data");
    if (absl::Status s =
            AgreeOnStatus(ranks, CheckUnitRange(*scaler, data, options_.feature_names, whose));
        !s.ok()) {
      return s;
    }
  }
  SplitOwnedRows(map, val_rows, &rng, &train_idx, &val_idx, &positions);
  // Mapped, no copy: the sets are indices into the mapping (in file
  // order), scaled as fetched.
  if (!mapped) {
    // Scoped so that the scaled copy is freed once split: training holds the
    // data twice at most (raw, and scaled train + validation rows).
    const Matrix scaled = scaler->Transform(*in_memory);
    const Matrix none(0, scaled.cols());
    train = GatherRows(scaled, none, train_idx);
    val = GatherRows(scaled, none, val_idx);
  }
  const RowSet train_set = mapped ? RowSet(data, &*scaler, &train_idx) : RowSet(train);
  const RowSet val_set = mapped ? RowSet(data, &*scaler, &val_idx) : RowSet(val);

  const v1::Architecture arch = ArchitectureFromConfig(config_, options_.input_dim);
  absl::StatusOr<StackedAutoencoder> net = StackedAutoencoder::Create(arch, config_.seed());
  if (!net.ok()) return net.status();

  ObjectiveOptions objective;
  objective.loss = config_.loss();
  objective.sparsity_weight = config_.sparsity().weight();
  objective.sparsity_target = config_.sparsity().target();
  objective.dropout = config_.dropout();

  const int depth = net->depth();
  // The ensemble: this network, then the others (below). Data-parallel
  // training trains one.
  const bool unsupervised = config_.pretrain_epochs() > 0 || config_.finetune_epochs() > 0;
  const int ensemble_size =
      ranks == nullptr ? TrainedNetworks(config_, data.rows(), options_.input_dim) : 1;
  // Progress counts every network's epochs, in one count: what the job
  // takes is what it reports.
  const int planned = PlannedEpochs(config_, ensemble_size, !classes.empty());
  int epochs_done = 0;
  std::vector<v1::EpochRecord> history;
  PhaseRunner runner(config_, options_, &rng, start, &epochs_done, planned, &history, ranks,
                     ranks != nullptr ? &row_rng : nullptr);
  const int64_t block_rows = options_.shuffle_block_rows > 0 ? options_.shuffle_block_rows
                             : mapped ? DefaultShuffleBlockRows(options_.input_dim)
                                      : 0;
  runner.set_shuffle_block_rows(block_rows);
  runner.set_network(1, ensemble_size);
  const std::vector<int>* const owned = ranks != nullptr ? &positions : nullptr;

  // Layer-wise pretraining, then fine-tuning, of one network; each network
  // of the ensemble goes through the same.
  // `positions`: data-parallel, as PhaseRunner::Run takes them.
  // Mapped, the codes of the layers below are computed batch by batch
  // rather than held.
  // `train_rows`, `val_rows`: in memory, the matrices `train` and `val`
  // read (null: mapped).
  const auto fit = [&](StackedAutoencoder* net, PhaseRunner& runner, const RowSet& train,
                       const RowSet& val, const Matrix* train_rows, const Matrix* val_rows,
                       const std::vector<int>* positions) -> absl::Status {
    if (config_.pretrain_epochs() > 0) {
      RowSet layer_train = train, layer_val = val;
      Matrix codes_train, codes_val;          // in memory: the layer's input
      std::deque<StackedAutoencoder> frozen;  // mapped: the layers below
      for (int m = 0; m < depth; ++m) {
        absl::StatusOr<StackedAutoencoder> shallow = ShallowFor(*net, m);
        if (!shallow.ok()) return shallow.status();
        ObjectiveOptions layer_objective = objective;
        // Inner layers reconstruct hidden features, which BCE does not fit.
        if (m > 0) layer_objective.loss = v1::MSE;
        if (absl::Status s = runner.Run(&*shallow, layer_train, layer_val, layer_objective,
                                        config_.pretrain_epochs(), v1::EpochRecord::PRETRAIN, m + 1,
                                        nullptr, positions);
            !s.ok()) {
          return s;
        }
        const int mirror = net->num_layers() - 1 - m;
        Parameters* deep = net->mutable_parameters();
        deep->weights[m] = shallow->parameters().weights[0];
        deep->weights[mirror] = shallow->parameters().weights[1];
        deep->biases[m] = shallow->parameters().biases[0];
        deep->biases[mirror] = shallow->parameters().biases[1];
        if (m + 1 < depth && mapped) {
          frozen.push_back(*std::move(shallow));
          layer_train = layer_train.Through(&frozen.back());
          layer_val = layer_val.Through(&frozen.back());
        } else if (m + 1 < depth) {
          Matrix next = shallow->Encode(m == 0 ? *train_rows : codes_train, 1);
          codes_train = std::move(next);
          layer_train = RowSet(codes_train);
          if (layer_val.rows() > 0) {
            next = shallow->Encode(m == 0 ? *val_rows : codes_val, 1);
            codes_val = std::move(next);
            layer_val = RowSet(codes_val);
          }
        }
      }
    }
    if (config_.finetune_epochs() > 0) {
      return runner.Run(net, train, val, objective, config_.finetune_epochs(),
                        v1::EpochRecord::FINETUNE, 0, nullptr, positions);
    }
    return absl::OkStatus();
  };
  if (absl::Status s = fit(&*net, runner, train_set, val_set, mapped ? nullptr : &train,
                           mapped ? nullptr : &val, owned);
      !s.ok()) {
    return s;
  }

  // The ensemble's other networks: seeds seed + 1, ..., each with its own
  // validation split of the same rows drawn with its seed, so that they
  // also stop early on different rows (a small gain on the ODDS bench:
  // bench/README.md). Their epochs go to the progress reports (marked by
  // network) and the epoch count, not the history, which is the served
  // network's.
  std::vector<StackedAutoencoder> others;
  for (int m = 1; m < ensemble_size; ++m) {
    const uint64_t seed = config_.seed() + static_cast<uint64_t>(m);
    absl::StatusOr<StackedAutoencoder> other = StackedAutoencoder::Create(arch, seed);
    if (!other.ok()) return other.status();
    std::mt19937_64 other_rng(seed);
    std::vector<v1::EpochRecord> other_history;
    PhaseRunner other_runner(config_, options_, &other_rng, start, &epochs_done, planned,
                             &other_history);
    other_runner.set_shuffle_block_rows(block_rows);
    other_runner.set_network(m + 1, ensemble_size);
    Matrix other_train, other_val;
    std::vector<int> other_train_idx, other_val_idx;
    if (mapped) {
      SplitIndices(train_idx, val_idx, val_rows, &other_rng, &other_train_idx, &other_val_idx);
    } else {
      SplitRows(train, val, val_rows, &other_rng, &other_train, &other_val);
    }
    const RowSet other_train_set =
        mapped ? RowSet(data, &*scaler, &other_train_idx) : RowSet(other_train);
    const RowSet other_val_set =
        mapped ? RowSet(data, &*scaler, &other_val_idx) : RowSet(other_val);
    if (absl::Status s =
            fit(&*other, other_runner, other_train_set, other_val_set,
                mapped ? nullptr : &other_train, mapped ? nullptr : &other_val, nullptr);
        !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("ensemble network ", m + 1, ": ", s.message()));
    }
    others.push_back(*std::move(other));
  }

  // What is published holds each normalisation folded into the weights or
  // a per-unit scale and shift: it serves as fast as the same network
  // without, with the same outputs (the running statistics').
  *net = net->Folded();
  for (StackedAutoencoder& other : others) other = other.Folded();

  ModelInfo info;
  // The supervised phase trains the folded network: each normalisation
  // stays at its running statistics, as when fine-tuning in evaluation
  // mode (the few labelled rows' batches would give poor statistics).
  std::optional<ClassifierHead> head;
  if (!classes.empty()) {
    absl::StatusOr<ClassifierHead> trained =
        TrainHead(config_, options_.class_names, &*net, &runner, objective, train, train_idx, val,
                  val_idx, classes, &info.summary);
    if (!trained.ok()) return trained.status();
    head = *std::move(trained);
    info.class_names = options_.class_names;
  }
  info.feature_names = options_.feature_names;
  info.config = config_;
  info.config.mutable_anomaly()->set_ensemble_size(ensemble_size);
  info.history = std::move(history);
  v1::TrainingSummary& summary = info.summary;
  if (ranks != nullptr && unsupervised && !config_.anomaly().has_ensemble_size() &&
      DefaultEnsembleSize(rows, options_.input_dim) > 1) {
    summary.add_warnings(absl::StrFormat(
        "anomaly.ensemble_size: data-parallel training trained one network, where one process "
        "would have trained %d by default (the ENSEMBLE score needs them)",
        DefaultEnsembleSize(rows, options_.input_dim)));
  }
  summary.set_train_rows(rows - val_rows);
  summary.set_validation_rows(val_rows);
  summary.set_epochs(epochs_done);
  summary.set_final_train_loss(GlobalLoss(ranks, *net, train_set, config_.loss()));
  if (val_rows > 0) {
    summary.set_final_validation_loss(GlobalLoss(ranks, *net, val_set, config_.loss()));
  }
  summary.set_mean_reconstruction_mse(config_.loss() == v1::MSE
                                          ? summary.final_train_loss()
                                          : GlobalLoss(ranks, *net, train_set, v1::MSE));
  if (!std::isfinite(summary.final_train_loss()) ||
      !std::isfinite(summary.mean_reconstruction_mse()) ||
      (val_rows > 0 && !std::isfinite(summary.final_validation_loss()))) {
    // Finite weights whose outputs overflow.
    return Diverged("the final loss is not finite", v1::EpochRecord::FINETUNE, 0);
  }
  // Data-parallel: calibration and the baseline run on every rank's rows
  // (or every stride-th of them) gathered in their global order, on every
  // rank; mapped, on every stride-th row. The baseline's counts, sums and
  // ranges then cover all rows.
  Matrix gathered;
  int64_t stride = 1;
  if (ranks != nullptr || mapped) {
    const int64_t budget = std::max<int64_t>(options_.calibration_values / options_.input_dim, 1);
    // Every stride-th of N rows is ceil(N / stride) rows: never fewer than a
    // training set needs to calibrate on, however small calibration_values is,
    // when the stride is at most floor(N / MinTrainingRows).
    stride = std::min((map.global + budget - 1) / budget,
                      std::max<int64_t>(map.global / MinTrainingRows(config_), 1));
  }
  if (ranks != nullptr || mapped) gathered = GatherEveryRank(ranks, map, data, stride);
  // In memory in one process, the rows themselves (no copy).
  const Matrix& calibration_rows = ranks != nullptr || mapped ? gathered : *in_memory;
  // A rank must not leave a collective the others wait in: data-parallel,
  // cancelling is agreed on between steps, and the last check below.
  const std::atomic<bool>* const cancel = ranks != nullptr ? nullptr : options_.cancel;
  absl::StatusOr<v1::AnomalyCalibration> calibration = CalibrateAnomalyScores(
      *net, *scaler, calibration_rows, config_.anomaly().threshold_percentile(), cancel);
  if (!calibration.ok()) return calibration.status();
  info.calibration = *std::move(calibration);
  {
    std::vector<const StackedAutoencoder*> nets = {&*net};
    for (const StackedAutoencoder& other : others) nets.push_back(&other);
    absl::StatusOr<v1::EnsembleCalibration> ensemble =
        CalibrateEnsemble(nets, *scaler, calibration_rows, info.calibration.code(),
                          config_.anomaly().threshold_percentile(),
                          config_.seed() ^ 0xf0'4e57ULL, cancel);
    if (!ensemble.ok()) return ensemble.status();
    *info.calibration.mutable_ensemble() = *std::move(ensemble);
  }
  absl::StatusOr<v1::DriftBaseline> baseline =
      ComputeDriftBaseline(*net, *scaler, calibration_rows, config_.drift_bins(), info.calibration,
                           {head.has_value() ? &*head : nullptr, classes});
  if (!baseline.ok()) return baseline.status();
  if (stride > 1) {
    if (absl::Status s = ReduceDriftBaseline(ranks, *net, *scaler, data, &*baseline); !s.ok()) {
      return s;
    }
    summary.add_warnings(absl::StrFormat(
        "calibration thresholds and drift bin edges come from every %d-th of the %d rows (%d "
        "rows%s); the drift baseline's shares, moments and ranges cover all rows",
        stride, rows, calibration_rows.rows(),
        ranks != nullptr ? absl::StrCat(" gathered from ", map.size, " ranks") : ""));
  }
  if (absl::Status s = AgreeOnStatus(ranks, CheckCancel(options_.cancel, "the drift baseline"));
      !s.ok()) {
    return s;
  }
  info.drift_baseline = *std::move(baseline);
  const double percentile = config_.anomaly().threshold_percentile();
  // The rows the thresholds came from (a sample of them, data-parallel
  // beyond the gather budget).
  const int64_t calibrated = calibration_rows.rows();
  const double above = static_cast<double>(calibrated) * (100 - percentile) / 100;
  if (percentile < 100 && above < kMinRowsAboveThreshold) {
    summary.add_warnings(absl::StrFormat(
        "weak calibration: the p%g threshold rests on %.1f of the %d training rows above it "
        "(fewer than %g); train on more rows, or lower anomaly.threshold_percentile, for a "
        "firmer one",
        percentile, above, calibrated, kMinRowsAboveThreshold));
  }
  if (ranks != nullptr) {
    // Every rank must hold the same weights; a difference would be a bug,
    // and publishing rank 0's alone would hide it.
    const uint32_t mine = WeightsChecksum(*net);
    const std::string bytes(reinterpret_cast<const char*>(&mine), sizeof(mine));
    const std::vector<std::string> all = ranks->AllGather(bytes);
    for (size_t r = 0; r < all.size(); ++r) {
      if (all[r] != bytes) {
        return absl::InternalError(
            absl::StrCat("rank ", r, "'s weights differ from rank ", map.rank, "'s"));
      }
    }
  }
  summary.set_seconds(SecondsSince(start));
  info.created_unix_micros = absl::ToUnixMicros(absl::Now());
  info.strata_version = STRATA_VERSION;
  auto model = std::make_unique<Model>(*std::move(net), *std::move(scaler), std::move(info),
                                       std::move(others), std::move(head));
  // What the loader checks, checked before anything is published: a model
  // that fails here would be stored and never load.
  if (absl::Status s = ValidateModel(*model); !s.ok()) {
    return absl::InternalError(
        absl::StrCat("training produced a model that would not load: ", s.message()));
  }
  return model;
}

}  // namespace strata
