#include "core/scoring/isolation_forest.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/base/cancellation.h"

namespace strata {
namespace {

// Deepest node a validated tree may hold; grown trees stop at
// ceil(log2(kForestSampleSize)) = 8. Bounds the validator's recursion.
constexpr int kMaxForestDepth = 64;

// c(n) for every leaf count a forest can hold: no logarithm per row.
const std::array<double, kForestSampleSize + 1>& PathLengths() {
  static const std::array<double, kForestSampleSize + 1> table = [] {
    std::array<double, kForestSampleSize + 1> t{};
    for (int n = 1; n <= kForestSampleSize; ++n) t[n] = AveragePathLength(n);
    return t;
  }();
  return table;
}

// A draw in [0, n) (n >= 1). The modulo's bias is below n / 2^64.
uint64_t Below(std::mt19937_64& rng, uint64_t n) { return rng() % n; }

// A draw in [0, 1) from the top 53 bits.
double Unit(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

class TreeGrower {
 public:
  TreeGrower(const Matrix& x, std::mt19937_64& rng, int max_depth, v1::IsolationForest* f)
      : x_(x), rng_(rng), max_depth_(max_depth), f_(f) {}

  // Appends the subtree of rows_[begin, end) in preorder.
  void Grow(size_t begin, size_t end, int depth) {
    const int node = f_->feature_size();
    f_->add_feature(-1);
    f_->add_threshold(0);
    f_->add_right(static_cast<int>(end - begin));
    if (end - begin <= 1 || depth >= max_depth_) return;
    // The features that vary on these rows, with their ranges.
    features_.clear();
    lows_.clear();
    highs_.clear();
    for (Eigen::Index j = 0; j < x_.cols(); ++j) {
      float lo = x_(rows_[begin], j), hi = lo;
      for (size_t i = begin + 1; i < end; ++i) {
        lo = std::min(lo, x_(rows_[i], j));
        hi = std::max(hi, x_(rows_[i], j));
      }
      if (hi > lo) {
        features_.push_back(static_cast<int>(j));
        lows_.push_back(lo);
        highs_.push_back(hi);
      }
    }
    if (features_.empty()) return;  // every row the same: a leaf
    const size_t pick = Below(rng_, features_.size());
    const int feature = features_[pick];
    const float lo = lows_[pick], hi = highs_[pick];
    float threshold = static_cast<float>(lo + Unit(rng_) * (static_cast<double>(hi) - lo));
    // Rows below the threshold go left: it must lie in (lo, hi] for both
    // sides to keep a row, whatever rounding did.
    if (!(threshold > lo)) threshold = std::nextafter(lo, hi);
    threshold = std::min(threshold, hi);
    const auto mid = std::stable_partition(
        rows_.begin() + begin, rows_.begin() + end,
        [&](Eigen::Index r) { return x_(r, feature) < threshold; });
    const size_t split = static_cast<size_t>(mid - rows_.begin());
    f_->set_feature(node, feature);
    f_->set_threshold(node, threshold);
    Grow(begin, split, depth + 1);
    f_->set_right(node, f_->feature_size());
    Grow(split, end, depth + 1);
  }

  std::vector<Eigen::Index>& rows() { return rows_; }

 private:
  const Matrix& x_;
  std::mt19937_64& rng_;
  const int max_depth_;
  v1::IsolationForest* f_;
  std::vector<Eigen::Index> rows_;
  std::vector<int> features_;
  std::vector<float> lows_, highs_;
};

// Checks the subtree at `node` of the tree ending before `end`, and sets
// *next to the node after it. InvalidArgument naming tree and node.
absl::Status CheckSubtree(const v1::IsolationForest& f, int input_dim, int tree, int node,
                          int end, int depth, int* next) {
  const auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("the isolation forest's tree ", tree + 1, " node ", node, " ", what));
  };
  if (node >= end) return bad(absl::StrCat("lies outside its tree (which ends at ", end, ")"));
  if (depth > kMaxForestDepth) return bad(absl::StrCat("is deeper than ", kMaxForestDepth));
  const int feature = f.feature(node);
  if (feature == -1) {
    if (f.right(node) < 1 || f.right(node) > f.sample_size()) {
      return bad(absl::StrCat("is a leaf of ", f.right(node), " rows; it needs 1 to ",
                              f.sample_size()));
    }
    *next = node + 1;
    return absl::OkStatus();
  }
  if (feature < 0 || feature >= input_dim || !std::isfinite(f.threshold(node))) {
    return bad(absl::StrCat("splits feature ", feature, " at ", f.threshold(node),
                            "; it needs a feature in [0, ", input_dim, ") and a finite value"));
  }
  int after_left = 0;
  if (absl::Status s = CheckSubtree(f, input_dim, tree, node + 1, end, depth + 1, &after_left);
      !s.ok()) {
    return s;
  }
  if (f.right(node) != after_left) {
    return bad(absl::StrCat("has its right child at ", f.right(node),
                            ", not after its left subtree (", after_left, ")"));
  }
  return CheckSubtree(f, input_dim, tree, after_left, end, depth + 1, next);
}

}  // namespace

double AveragePathLength(int64_t n) {
  if (n <= 1) return 0;
  if (n == 2) return 1;
  // H(n - 1) summed exactly for the counts a forest holds; beyond, its
  // asymptotic form (error below 1e-6 from n = 256 on).
  const double m = static_cast<double>(n - 1);
  double harmonic = 0;
  if (n <= kForestSampleSize + 1) {
    for (int64_t i = 1; i < n; ++i) harmonic += 1.0 / static_cast<double>(i);
  } else {
    harmonic = std::log(m) + 0.57721566490153286 + 1 / (2 * m) - 1 / (12 * m * m);
  }
  return 2 * harmonic - 2 * m / static_cast<double>(n);
}

absl::StatusOr<v1::IsolationForest> FitIsolationForest(const Matrix& scaled, uint64_t seed,
                                                       const std::atomic<bool>* cancel) {
  const Eigen::Index n = scaled.rows();
  const int psi = static_cast<int>(std::min<Eigen::Index>(n, kForestSampleSize));
  int max_depth = 0;
  while ((int64_t{1} << max_depth) < psi) ++max_depth;
  v1::IsolationForest f;
  f.set_sample_size(psi);
  std::mt19937_64 rng(seed);
  TreeGrower grower(scaled, rng, max_depth, &f);
  // One permutation of every row, of which each tree shuffles its first psi
  // into place (a partial Fisher-Yates shuffle: a uniform sample whatever
  // order the indices were left in).
  std::vector<Eigen::Index> all(static_cast<size_t>(n));
  std::iota(all.begin(), all.end(), Eigen::Index{0});
  for (int t = 0; t < kForestTrees; ++t) {
    if (absl::Status s = CheckCancel(cancel, "the isolation forest"); !s.ok()) return s;
    for (int i = 0; i < psi; ++i) {
      const size_t j = static_cast<size_t>(i) + Below(rng, static_cast<uint64_t>(n - i));
      std::swap(all[i], all[j]);
    }
    grower.rows().assign(all.begin(), all.begin() + psi);
    f.add_tree_starts(f.feature_size());
    grower.Grow(0, static_cast<size_t>(psi), 0);
  }
  return f;
}

Eigen::VectorXf IsolationScores(const v1::IsolationForest& f, const Matrix& scaled) {
  const auto& path = PathLengths();
  const int trees = f.tree_starts_size();
  const int32_t* feature = f.feature().data();
  const float* threshold = f.threshold().data();
  const int32_t* right = f.right().data();
  // c(psi) of a one-row sample is 0: every row then has path length 0 and
  // the score 2^0 = 1, whatever the divisor.
  const double norm = std::max(path[f.sample_size()], 1.0);
  Eigen::VectorXf out(scaled.rows());
  for (Eigen::Index r = 0; r < scaled.rows(); ++r) {
    double sum = 0;
    for (int t = 0; t < trees; ++t) {
      int node = f.tree_starts(t);
      int depth = 0;
      while (feature[node] >= 0) {
        node = scaled(r, feature[node]) < threshold[node] ? node + 1 : right[node];
        ++depth;
      }
      sum += depth + path[right[node]];
    }
    out(r) = static_cast<float>(std::exp2(-(sum / trees) / norm));
  }
  return out;
}

absl::Status ValidateIsolationForest(const v1::IsolationForest& f, int input_dim) {
  const int nodes = f.feature_size();
  if (f.sample_size() < 1 || f.sample_size() > kForestSampleSize || f.tree_starts().empty() ||
      f.threshold_size() != nodes || f.right_size() != nodes || f.tree_starts(0) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the isolation forest has sample size ", f.sample_size(), ", ", f.tree_starts_size(),
        " trees starting at ", f.tree_starts().empty() ? -1 : f.tree_starts(0), ", and ", nodes,
        " features, ", f.threshold_size(), " thresholds and ", f.right_size(),
        " right children; it needs a sample size in [1, ", kForestSampleSize,
        "], a tree starting at node 0, and one of each per node"));
  }
  for (int t = 0; t < f.tree_starts_size(); ++t) {
    const int start = f.tree_starts(t);
    const int end = t + 1 < f.tree_starts_size() ? f.tree_starts(t + 1) : nodes;
    if (start >= end) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the isolation forest's tree ", t + 1, " starts at node ", start,
          " and ends at ", end, ": tree starts must ascend and lie within the ", nodes, " nodes"));
    }
    int next = 0;
    if (absl::Status s = CheckSubtree(f, input_dim, t, start, end, 0, &next); !s.ok()) return s;
    if (next != end) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the isolation forest's tree ", t + 1, " ends at node ", next,
          " but its range runs to node ", end));
    }
  }
  return absl::OkStatus();
}

}  // namespace strata
