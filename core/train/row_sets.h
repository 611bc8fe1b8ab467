// Row sets and splits: the rows a training phase reads, and how the trainer
// holds out its validation rows.
//
// A RowSet is a training set in the network's input units, fetched by
// position: a matrix's rows (in memory) or a row file's mapped rows, scaled
// (and encoded through frozen layers) as they are fetched. The split
// functions draw one shuffle from the trainer's stream; every split of the
// trainer goes through SplitPositions, so that the in-memory and the mapped
// paths hold out the same rows in the same order.
//
// Internal to core/train/. Functions are thread-compatible; a RowSet is
// immutable once made.
#ifndef STRATA_CORE_TRAIN_ROW_SETS_H_
#define STRATA_CORE_TRAIN_ROW_SETS_H_

#include <cstdint>
#include <random>
#include <vector>

#include "absl/types/span.h"
#include "core/data/scaler.h"
#include "core/nn/matrix.h"
#include "core/nn/stacked_autoencoder.h"
#include "strata/v1/train_config.pb.h"

namespace strata {
namespace train_internal {

// Rows `rows` of the stack of `top` over `bottom` (row i of `bottom` is row
// top.rows() + i).
Matrix GatherRows(const Matrix& top, const Matrix& bottom, const std::vector<int>& rows);

// Every split of the trainer: positions 0 .. n-1 shuffled with `rng`, the
// first `val_rows` of the shuffle held out; both sets in ascending order, so
// that a validation loss sums its rows in the same order whether they are
// gathered in memory or read from a row file (in the shuffle's order the
// two paths summed differently ordered rows, and ended a few ulps apart).
void SplitPositions(int64_t n, int64_t val_rows, std::mt19937_64* rng, std::vector<int>* train,
                    std::vector<int>* val);

// Shuffles the rows of `top` stacked over `bottom` with `rng` and holds out
// the first `val_rows` of them; both sets keep their rows' order.
void SplitRows(const Matrix& top, const Matrix& bottom, int val_rows, std::mt19937_64* rng,
               Matrix* train, Matrix* val);

// SplitRows over the indices of two sets (rows of the data), for rows that
// are not in memory: the same rows in the same order as SplitRows gives
// (each set by its position in `top` then `bottom`).
void SplitIndices(const std::vector<int>& top, const std::vector<int>& bottom, int val_rows,
                  std::mt19937_64* rng, std::vector<int>* train, std::vector<int>* val);

// The rows of `x` whose class (classes[idx[i]] for row i) is labelled, and
// their classes.
void LabelledRows(const Matrix& x, const std::vector<int>& idx, absl::Span<const int> classes,
                  Matrix* rows, std::vector<int>* row_classes);

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
  // Rows positions[0 .. n-1] into `out`.
  void Fetch(const int* positions, Eigen::Index n, Matrix* out) const;
  // Rows begin .. begin + n - 1 into `out`.
  void FetchRange(Eigen::Index begin, Eigen::Index n, Matrix* out) const;

 private:
  void CopyRow(Eigen::Index position, float* out) const;
  void Finish(Matrix* out) const;

  const float* data_;
  Eigen::Index rows_, cols_, stride_;
  const Scaler* scaler_ = nullptr;
  const std::vector<int>* index_ = nullptr;
  std::vector<const StackedAutoencoder*> encoders_;
};

// Loss over a whole set, in chunks to bound the memory of the forward pass.
double EvaluateLoss(const StackedAutoencoder& net, const RowSet& x, v1::Loss loss);

}  // namespace train_internal
}  // namespace strata

#endif  // STRATA_CORE_TRAIN_ROW_SETS_H_
