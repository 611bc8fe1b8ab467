#include "core/scoring/ensemble_score.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "core/base/cancellation.h"
#include "core/nn/elementwise.h"
#include "core/scoring/anomaly.h"
#include "core/scoring/isolation_forest.h"

namespace strata {
namespace {

// Knots per block of the feature-tail counts.
constexpr int kTailBlock = 32;
// One fixed-width pass over the block ends covers every block.
static_assert(kMaxTailKnots <= kTailBlock * kTailBlock);

bool AllFinite(const google::protobuf::RepeatedField<float>& v) {
  return std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); });
}

// Median of `v`, floored so that dividing by it stays finite (a network that
// maps every training row to one code has spreads of 0).
float MedianScale(std::vector<float> v) {
  std::sort(v.begin(), v.end());
  return std::max(static_cast<float>(Percentile(v, 50)), 1e-12f);
}

// log1p(x / scale), the common footing of every term.
// Every row's log1p through one vector routine (core/nn/elementwise.h): a
// row's term must not depend on its place in the batch.
Eigen::ArrayXf Normalized(const Eigen::VectorXf& x, float scale) {
  namespace ei = Eigen::internal;
  Eigen::ArrayXf out = x.array() / scale;
  ForEachPacket(out.data(), out.size(), [](const FloatPacket& v) { return ei::plog1p(v); });
  return out;
}

}  // namespace

v1::FeatureTails FitFeatureTails(const Matrix& scaled) {
  const Eigen::Index n = scaled.rows();
  const int knots = static_cast<int>(std::min<Eigen::Index>(n, kMaxTailKnots));
  v1::FeatureTails t;
  t.set_knots_per_feature(knots);
  std::vector<float> column(static_cast<size_t>(n));
  for (Eigen::Index j = 0; j < scaled.cols(); ++j) {
    double mean = 0;
    for (Eigen::Index r = 0; r < n; ++r) {
      column[r] = scaled(r, j);
      mean += scaled(r, j);
    }
    mean /= static_cast<double>(n);
    double m2 = 0, m3 = 0;
    for (float v : column) {
      const double d = v - mean;
      m2 += d * d;
      m3 += d * d * d;
    }
    std::sort(column.begin(), column.end());
    for (int i = 0; i < knots; ++i) {
      const size_t at = knots == 1 ? 0
                                   : static_cast<size_t>(std::llround(
                                         static_cast<double>(i) * (n - 1) / (knots - 1)));
      t.add_knots(column[at]);
    }
    // The sign of the third central moment is the skewness's.
    t.add_left_skewed(m2 > 0 && m3 < 0);
  }
  return t;
}

absl::StatusOr<FeatureTailIndex> FeatureTailIndex::Create(const v1::FeatureTails& t,
                                                          int input_dim) {
  if (absl::Status s = ValidateFeatureTails(t, input_dim); !s.ok()) return s;
  FeatureTailIndex index;
  index.features_ = input_dim;
  index.knots_ = t.knots_per_feature();
  index.blocks_ = (index.knots_ + kTailBlock - 1) / kTailBlock;
  const size_t padded = static_cast<size_t>(index.blocks_) * kTailBlock;
  constexpr float kInf = std::numeric_limits<float>::infinity();
  index.knots_padded_.assign(padded * input_dim, kInf);
  index.block_ends_.assign(size_t{kTailBlock} * input_dim, kInf);
  for (int j = 0; j < input_dim; ++j) {
    const float* knots = t.knots().data() + int64_t{j} * index.knots_;
    float* out = index.knots_padded_.data() + padded * j;
    std::copy(knots, knots + index.knots_, out);
    for (int b = 0; b < index.blocks_; ++b) {
      index.block_ends_[size_t{kTailBlock} * j + b] = out[b * kTailBlock + kTailBlock - 1];
    }
    index.left_skewed_.push_back(t.left_skewed(j));
  }
  return index;
}

Eigen::VectorXf FeatureTailIndex::Scores(const Matrix& scaled) const {
  // log(c + 1) for every count c a feature can give: no logarithm per value.
  static const std::array<double, kMaxTailKnots + 2> kLog = [] {
    std::array<double, kMaxTailKnots + 2> table;
    for (size_t c = 0; c < table.size(); ++c) table[c] = std::log(static_cast<double>(c));
    return table;
  }();
  const int k = knots_;
  const double log_total = kLog[k + 1];
  const size_t padded = static_cast<size_t>(blocks_) * kTailBlock;
  // Knots at most x (into *le) and below x (*lt) among 32: fixed-width
  // loops the compiler vectorises. A binary search over 1,024 knots was a
  // chain of dependent loads, and 90% of a score's time.
  const auto count32 = [](const float* v, float x, int* le, int* lt) {
    int a = 0, b = 0;
    for (int i = 0; i < kTailBlock; ++i) {
      a += v[i] <= x;
      b += v[i] < x;
    }
    *le = a;
    *lt = b;
  };
  // Whole blocks at most (below) x, then the one block that straddles x.
  // The +inf padding is never counted for a finite x; an infinite x counts
  // every knot.
  const auto counts = [&](const float* knots, const float* ends, float x, int* le, int* lt) {
    int le_blocks, lt_blocks;
    count32(ends, x, &le_blocks, &lt_blocks);
    int in_le = 0, in_lt = 0, unused;
    if (le_blocks < blocks_) count32(knots + le_blocks * kTailBlock, x, &in_le, &unused);
    if (lt_blocks < blocks_) count32(knots + lt_blocks * kTailBlock, x, &unused, &in_lt);
    *le = std::min(le_blocks * kTailBlock + in_le, k);
    *lt = std::min(lt_blocks * kTailBlock + in_lt, k);
  };
  // Feature by feature, so that one feature's knots (4 KiB) stay in cache
  // while every row counts them.
  const Eigen::Index rows = scaled.rows();
  using Sums = Eigen::Array<double, Eigen::Dynamic, 3>;
  Sums sums = Sums::Zero(rows, 3);
  for (int j = 0; j < features_; ++j) {
    const float* knots = knots_padded_.data() + padded * j;
    const float* ends = block_ends_.data() + size_t{kTailBlock} * j;
    const bool left_skewed = left_skewed_[j] != 0;
    for (Eigen::Index r = 0; r < rows; ++r) {
      int at_most, below;
      counts(knots, ends, scaled(r, j), &at_most, &below);
      const double l = log_total - kLog[at_most + 1];
      const double rt = log_total - kLog[k - below + 1];
      sums(r, 0) += l;
      sums(r, 1) += rt;
      sums(r, 2) += left_skewed ? l : rt;
    }
  }
  return sums.rowwise().maxCoeff().cast<float>().matrix();
}

Eigen::VectorXf CodeSpreads(absl::Span<const float> centre, const Matrix& codes) {
  const Eigen::Index k = static_cast<Eigen::Index>(centre.size());
  // Each row alone, summed in double over the units in order (RowMeans'
  // reason).
  Eigen::VectorXf out(codes.rows());
  for (Eigen::Index r = 0; r < codes.rows(); ++r) {
    double sum = 0;
    for (Eigen::Index i = 0; i < k; ++i) {
      const double d = static_cast<double>(codes(r, i)) - static_cast<double>(centre[i]);
      sum += d * d;
    }
    out(r) = static_cast<float>(sum / static_cast<double>(k));
  }
  return out;
}

absl::Span<const float> SpreadCentre(const v1::EnsembleCalibration& e, int m) {
  const v1::CodeGaussian& g = e.codes(m);
  if (e.spread_centres().empty()) return absl::MakeConstSpan(g.mean().data(), g.mean_size());
  const size_t k = static_cast<size_t>(g.mean_size());
  return absl::MakeConstSpan(e.spread_centres().data() + m * k, k);
}

bool HasIsolationForest(const v1::EnsembleCalibration& e) {
  return !e.forest().tree_starts().empty();
}

namespace {

// E of model.proto's EnsembleCalibration: the networks' terms and the tail
// term.
Eigen::ArrayXf NetworkScores(const v1::EnsembleCalibration& e, const FeatureTailIndex& tails,
                             absl::Span<const Matrix> codes, const Matrix& scaled) {
  Eigen::ArrayXf networks = Eigen::ArrayXf::Zero(scaled.rows());
  for (size_t m = 0; m < codes.size(); ++m) {
    const int i = static_cast<int>(m);
    networks += Normalized(CodeDistances(e.codes(i), codes[m]), 1.0f) +
                Normalized(CodeSpreads(SpreadCentre(e, i), codes[m]), e.spread_scales(i));
  }
  networks /= static_cast<float>(codes.size());
  return networks + Normalized(tails.Scores(scaled), e.tail_scale());
}

// Each row's E and forest score in units of their training spreads,
// averaged; in double, element by element (no row depends on another).
Eigen::VectorXf Standardized(const v1::EnsembleCalibration& e, const Eigen::ArrayXf& networks,
                             const Eigen::VectorXf& forest) {
  Eigen::VectorXf out(networks.size());
  for (Eigen::Index r = 0; r < networks.size(); ++r) {
    out(r) = static_cast<float>(((networks(r) - e.networks_mean()) / e.networks_std() +
                                 (forest(r) - e.forest_mean()) / e.forest_std()) /
                                2);
  }
  return out;
}

// Mean and standard deviation of `v`, in double; the deviation floored so
// that dividing by it stays finite (a constant score).
std::pair<double, double> MeanAndSpread(const Eigen::ArrayXf& v) {
  double sum = 0;
  for (Eigen::Index r = 0; r < v.size(); ++r) sum += v(r);
  const double mean = sum / static_cast<double>(v.size());
  double squares = 0;
  for (Eigen::Index r = 0; r < v.size(); ++r) squares += (v(r) - mean) * (v(r) - mean);
  return {mean, std::max(std::sqrt(squares / static_cast<double>(v.size())), 1e-12)};
}

}  // namespace

Eigen::VectorXf EnsembleScores(const v1::EnsembleCalibration& e, const FeatureTailIndex& tails,
                               absl::Span<const Matrix> codes, const Matrix& scaled) {
  const Eigen::ArrayXf networks = NetworkScores(e, tails, codes, scaled);
  if (!HasIsolationForest(e)) return networks.matrix();
  return Standardized(e, networks, IsolationScores(e.forest(), scaled));
}

absl::StatusOr<v1::EnsembleCalibration> CalibrateEnsemble(
    absl::Span<const StackedAutoencoder* const> nets, const Scaler& scaler, const Matrix& raw,
    const v1::CodeGaussian& first_code, double threshold_percentile, uint64_t forest_seed,
    const std::atomic<bool>* cancel) {
  constexpr Eigen::Index kChunk = 4096;
  const Matrix scaled = scaler.Transform(raw);
  std::vector<Matrix> codes;
  codes.reserve(nets.size());
  for (size_t m = 0; m < nets.size(); ++m) {
    Matrix z(raw.rows(), nets[m]->code_dim());
    for (Eigen::Index start = 0; start < raw.rows(); start += kChunk) {
      if (absl::Status s = CheckCancel(cancel, "calibration"); !s.ok()) return s;
      const Eigen::Index n = std::min(kChunk, raw.rows() - start);
      z.middleRows(start, n) = nets[m]->Encode(scaled.middleRows(start, n), nets[m]->depth());
    }
    for (Eigen::Index r = 0; r < z.rows(); ++r) {
      if (!z.row(r).allFinite()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "training diverged: row ", r, " of the training data has a non-finite code under "
            "ensemble network ", m + 1, " (its outputs overflow); lower "
            "optimizer.learning_rate or set grad_clip_norm"));
      }
    }
    codes.push_back(std::move(z));
  }
  v1::EnsembleCalibration e;
  for (size_t m = 0; m < nets.size(); ++m) {
    if (m == 0) {
      *e.add_codes() = first_code;
    } else {
      absl::StatusOr<v1::CodeGaussian> g = FitCodeGaussian(codes[m], cancel);
      if (!g.ok()) return g.status();
      *e.add_codes() = *std::move(g);
    }
    // Summed in double: a float sum over a million rows drifts.
    Eigen::RowVectorXd sum = Eigen::RowVectorXd::Zero(codes[m].cols());
    for (Eigen::Index r = 0; r < codes[m].rows(); ++r) sum += codes[m].row(r).cast<double>();
    const Eigen::RowVectorXf centre = (sum / static_cast<double>(codes[m].rows())).cast<float>();
    e.mutable_spread_centres()->Add(centre.data(), centre.data() + centre.size());
    const Eigen::VectorXf spread = CodeSpreads(SpreadCentre(e, static_cast<int>(m)), codes[m]);
    e.add_spread_scales(
        MedianScale(std::vector<float>(spread.data(), spread.data() + spread.size())));
  }
  if (absl::Status s = CheckCancel(cancel, "calibration"); !s.ok()) return s;
  *e.mutable_tails() = FitFeatureTails(scaled);
  absl::StatusOr<FeatureTailIndex> index =
      FeatureTailIndex::Create(e.tails(), static_cast<int>(scaled.cols()));
  if (!index.ok()) return index.status();
  const Eigen::VectorXf tails = index->Scores(scaled);
  e.set_tail_scale(MedianScale(std::vector<float>(tails.data(), tails.data() + tails.size())));
  absl::StatusOr<v1::IsolationForest> forest = FitIsolationForest(scaled, forest_seed, cancel);
  if (!forest.ok()) return forest.status();
  *e.mutable_forest() = *std::move(forest);
  // Each family once over the training rows: their spreads, then the
  // served score from the same values (what EnsembleScores computes).
  const Eigen::VectorXf isolation = IsolationScores(e.forest(), scaled);
  const Eigen::ArrayXf networks = NetworkScores(e, *index, codes, scaled);
  const auto [networks_mean, networks_std] = MeanAndSpread(networks);
  const auto [forest_mean, forest_std] = MeanAndSpread(isolation.array());
  e.set_networks_mean(networks_mean);
  e.set_networks_std(networks_std);
  e.set_forest_mean(forest_mean);
  e.set_forest_std(forest_std);
  const Eigen::VectorXf scores = Standardized(e, networks, isolation);
  for (Eigen::Index r = 0; r < scores.size(); ++r) {
    if (!std::isfinite(scores(r))) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the trained networks cannot be calibrated: row ", r,
          " of the training data has a non-finite ensemble score"));
    }
  }
  *e.mutable_scores() = DescribeScores(std::vector<float>(scores.data(), scores.data() + scores.size()),
                                       threshold_percentile);
  return e;
}

absl::Status ValidateFeatureTails(const v1::FeatureTails& t, int input_dim) {
  const int k = t.knots_per_feature();
  if (k < 1 || k > kMaxTailKnots || t.knots_size() != int64_t{k} * input_dim ||
      t.left_skewed_size() != input_dim || !AllFinite(t.knots())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the ensemble calibration's feature tails have ", t.knots_size(), " knots (",
        k, " per feature) and ", t.left_skewed_size(), " skew flags for ", input_dim,
        " features, or non-finite knots; they need 1 to ", kMaxTailKnots,
        " finite knots per feature and one flag per feature"));
  }
  for (int j = 0; j < input_dim; ++j) {
    const float* knots = t.knots().data() + int64_t{j} * k;
    if (!std::is_sorted(knots, knots + k)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the ensemble calibration's knots of feature ", j, " are not ascending"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateEnsembleCalibration(const v1::EnsembleCalibration& e, int networks,
                                         int input_dim, int code_dim) {
  if (e.codes_size() != networks || e.spread_scales_size() != networks) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the ensemble calibration has ", e.codes_size(), " code Gaussians and ",
        e.spread_scales_size(), " spread scales for ", networks, " networks"));
  }
  const int64_t k = code_dim;
  if (!e.spread_centres().empty() &&
      (e.spread_centres_size() != networks * k || !AllFinite(e.spread_centres()))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the ensemble calibration has ", e.spread_centres_size(), " spread centre values for ",
        networks, " networks of ", k, "-unit codes, or a non-finite one; it needs ",
        networks * k, " finite values, or none"));
  }
  for (int m = 0; m < networks; ++m) {
    const v1::CodeGaussian& g = e.codes(m);
    if (g.mean_size() != k || g.precision_size() != k * k || !AllFinite(g.mean()) ||
        !AllFinite(g.precision()) ||
        !(e.spread_scales(m) > 0 && std::isfinite(e.spread_scales(m)))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the ensemble calibration's network ", m + 1, " has ", g.mean_size(), " means and ",
          g.precision_size(), " precisions for a ", k,
          "-unit code, or a non-finite value, or a spread scale that is not positive"));
    }
  }
  if (absl::Status s = ValidateFeatureTails(e.tails(), input_dim); !s.ok()) return s;
  if (!(e.tail_scale() > 0 && std::isfinite(e.tail_scale()))) {
    return absl::InvalidArgumentError("the ensemble calibration's tail scale is not positive");
  }
  if (HasIsolationForest(e)) {
    if (absl::Status s = ValidateIsolationForest(e.forest(), input_dim); !s.ok()) return s;
    const auto spread_ok = [](double mean, double std) {
      return std::isfinite(mean) && std::isfinite(std) && std > 0;
    };
    if (!spread_ok(e.networks_mean(), e.networks_std()) ||
        !spread_ok(e.forest_mean(), e.forest_std())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the ensemble calibration's training means and deviations (networks ",
          e.networks_mean(), " and ", e.networks_std(), ", forest ", e.forest_mean(), " and ",
          e.forest_std(), ") are not finite with positive deviations"));
    }
  }
  const v1::ScoreDistribution& d = e.scores();
  if (!std::isfinite(d.threshold()) || d.quantiles().empty() || !AllFinite(d.quantiles()) ||
      !std::is_sorted(d.quantiles().begin(), d.quantiles().end())) {
    return absl::InvalidArgumentError(
        "the ensemble calibration's threshold and quantiles are not finite and ascending");
  }
  return absl::OkStatus();
}

}  // namespace strata
