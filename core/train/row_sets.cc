#include "core/train/row_sets.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "core/data/class_labels.h"
#include "core/nn/backprop.h"

namespace strata {
namespace train_internal {

Matrix GatherRows(const Matrix& top, const Matrix& bottom, const std::vector<int>& rows) {
  Matrix out(static_cast<Eigen::Index>(rows.size()), top.cols());
  for (size_t i = 0; i < rows.size(); ++i) {
    const Eigen::Index r = rows[i];
    out.row(static_cast<Eigen::Index>(i)) =
        r < top.rows() ? top.row(r) : bottom.row(r - top.rows());
  }
  return out;
}

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

void SplitRows(const Matrix& top, const Matrix& bottom, int val_rows, std::mt19937_64* rng,
               Matrix* train, Matrix* val) {
  std::vector<int> train_rows, val_rows_idx;
  SplitPositions(top.rows() + bottom.rows(), val_rows, rng, &train_rows, &val_rows_idx);
  *train = GatherRows(top, bottom, train_rows);
  *val = GatherRows(top, bottom, val_rows_idx);
}

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

void RowSet::Fetch(const int* positions, Eigen::Index n, Matrix* out) const {
  out->resize(n, cols_);
  for (Eigen::Index i = 0; i < n; ++i) CopyRow(positions[i], out->row(i).data());
  Finish(out);
}

void RowSet::FetchRange(Eigen::Index begin, Eigen::Index n, Matrix* out) const {
  out->resize(n, cols_);
  for (Eigen::Index i = 0; i < n; ++i) CopyRow(begin + i, out->row(i).data());
  Finish(out);
}

void RowSet::CopyRow(Eigen::Index position, float* out) const {
  const Eigen::Index row = index_ != nullptr ? (*index_)[position] : position;
  std::memcpy(out, data_ + row * stride_, sizeof(float) * static_cast<size_t>(cols_));
}

void RowSet::Finish(Matrix* out) const {
  if (scaler_ != nullptr) *out = scaler_->Transform(*out);
  for (const StackedAutoencoder* encoder : encoders_) *out = encoder->Encode(*out, 1);
}

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

}  // namespace train_internal
}  // namespace strata
