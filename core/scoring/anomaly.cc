#include "core/scoring/anomaly.h"

#include <algorithm>
#include <cmath>

#include "Eigen/Eigenvalues"
#include "absl/strings/str_cat.h"
#include "core/base/cancellation.h"

namespace strata {
namespace {

absl::Status NonFiniteRow(Eigen::Index row, absl::string_view what) {
  return absl::FailedPreconditionError(
      absl::StrCat("training diverged: row ", row, " of the training data has a non-finite ", what,
                   " (the network's outputs overflow); lower optimizer.learning_rate or set "
                   "grad_clip_norm"));
}

}  // namespace

Matrix FeatureErrors(const StackedAutoencoder& net, const Scaler& scaler, const Matrix& raw,
                     ScoreMetric metric, Matrix* code) {
  return ScaledFeatureErrors(net, scaler.Transform(raw), metric, code);
}

Matrix ScaledFeatureErrors(const StackedAutoencoder& net, const Matrix& scaled, ScoreMetric metric,
                           Matrix* code) {
  Matrix diff = net.Reconstruct(scaled, code) - scaled;
  if (metric == ScoreMetric::kMeanAbsolute) {
    diff = diff.cwiseAbs();
  } else {
    diff = diff.array().square().matrix();
  }
  return diff;
}

double Percentile(const std::vector<float>& sorted, double p) {
  const double pos = std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  const double frac = pos - static_cast<double>(lo);
  return sorted[lo] + frac * (static_cast<double>(sorted[hi]) - sorted[lo]);
}

v1::ScoreDistribution DescribeScores(std::vector<float> scores, double threshold_percentile) {
  v1::ScoreDistribution d;
  if (scores.empty()) return d;
  std::sort(scores.begin(), scores.end());
  d.set_threshold(static_cast<float>(Percentile(scores, threshold_percentile)));
  const size_t points = std::min<size_t>(1001, scores.size());
  for (size_t i = 0; i < points; ++i) {
    const double p = points == 1 ? 0.0 : 100.0 * static_cast<double>(i) / (points - 1);
    d.add_quantiles(static_cast<float>(Percentile(scores, p)));
  }
  return d;
}

absl::StatusOr<v1::AnomalyCalibration> CalibrateAnomalyScores(
    const StackedAutoencoder& net, const Scaler& scaler, const Matrix& raw,
    double threshold_percentile, const std::atomic<bool>* cancel) {
  constexpr Eigen::Index kChunk = 4096;
  std::vector<float> mse, mae;
  mse.reserve(static_cast<size_t>(raw.rows()));
  mae.reserve(static_cast<size_t>(raw.rows()));
  Matrix codes(raw.rows(), net.code_dim());
  for (Eigen::Index start = 0; start < raw.rows(); start += kChunk) {
    if (absl::Status s = CheckCancel(cancel, "calibration"); !s.ok()) return s;
    const Eigen::Index n = std::min(kChunk, raw.rows() - start);
    const Matrix scaled = scaler.Transform(raw.middleRows(start, n));
    Matrix code;
    const Matrix diff = net.Reconstruct(scaled, &code) - scaled;
    codes.middleRows(start, n) = code;
    // Each row's mean as serving computes it (RowScores), bit for bit.
    const Eigen::VectorXf squared = RowMeans(diff.array().square().matrix());
    const Eigen::VectorXf absolute = RowMeans(diff.cwiseAbs());
    for (Eigen::Index r = 0; r < n; ++r) {
      mse.push_back(squared(r));
      mae.push_back(absolute(r));
      // NaN must not reach the sorts below, nor the Gaussian's fit.
      if (!std::isfinite(mse.back()) || !std::isfinite(mae.back()) || !code.row(r).allFinite()) {
        return NonFiniteRow(start + r, "reconstruction error or code");
      }
    }
  }
  v1::AnomalyCalibration c;
  c.set_threshold_percentile(threshold_percentile);
  absl::StatusOr<v1::CodeGaussian> gaussian = FitCodeGaussian(codes, cancel);
  if (!gaussian.ok()) return gaussian.status();
  *c.mutable_code() = *std::move(gaussian);
  const Eigen::VectorXf distance = CodeDistances(c.code(), codes);
  for (Eigen::Index r = 0; r < distance.size(); ++r) {
    if (!std::isfinite(distance(r))) return NonFiniteRow(r, "code distance");
  }
  std::vector<float> sorted = mse;
  std::sort(sorted.begin(), sorted.end());
  // A model that reconstructs its training rows exactly makes any error
  // stand out; the floor keeps the term finite.
  c.set_mse_scale(std::max(static_cast<float>(Percentile(sorted, 50)), 1e-12f));
  std::vector<float> combined(mse.size());
  for (size_t r = 0; r < mse.size(); ++r) {
    combined[r] = distance(static_cast<Eigen::Index>(r)) + mse[r] / c.mse_scale();
  }
  *c.mutable_code_distance() = DescribeScores(
      std::vector<float>(distance.data(), distance.data() + distance.size()), threshold_percentile);
  *c.mutable_combined() = DescribeScores(std::move(combined), threshold_percentile);
  *c.mutable_mean_squared() = DescribeScores(std::move(mse), threshold_percentile);
  *c.mutable_mean_absolute() = DescribeScores(std::move(mae), threshold_percentile);
  // Finite scores can still overflow a table (a combined score of
  // MSE / mse_scale) or the code Gaussian's precision.
  if (absl::Status s = ValidateCalibration(c, net.code_dim()); !s.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the trained network cannot be calibrated: ", s.message()));
  }
  return c;
}

absl::Status ValidateCalibration(const v1::AnomalyCalibration& c, int code_dim) {
  const auto finite = [](const auto& values) {
    return std::all_of(values.begin(), values.end(), [](double v) { return std::isfinite(v); });
  };
  if (!(c.threshold_percentile() > 0 && c.threshold_percentile() <= 100)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the anomaly calibration's threshold percentile is ", c.threshold_percentile(),
        ", not in (0, 100]"));
  }
  for (ScoreMetric metric : {ScoreMetric::kMeanSquared, ScoreMetric::kMeanAbsolute,
                             ScoreMetric::kCodeDistance, ScoreMetric::kCombined}) {
    const v1::ScoreDistribution& d = ScoreDistributionOf(c, metric);
    // is_sorted alone passes NaN, and PercentileOfScore then reads past the
    // end of the table.
    if (!std::isfinite(d.threshold()) || !finite(d.quantiles()) ||
        !std::is_sorted(d.quantiles().begin(), d.quantiles().end())) {
      return absl::InvalidArgumentError(
          absl::StrCat("the anomaly calibration's ", MetricName(metric),
                       " threshold and quantiles are not finite and ascending"));
    }
  }
  if (!HasCodeScores(c)) return absl::OkStatus();  // models from before the code scores
  const int64_t k = code_dim;
  if (c.code().mean_size() != k || c.code().precision_size() != k * k ||
      !finite(c.code().mean()) || !finite(c.code().precision()) ||
      !(c.mse_scale() > 0 && std::isfinite(c.mse_scale())) ||
      c.code_distance().quantiles().empty() || c.combined().quantiles().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the anomaly calibration's code Gaussian does not match the ", k, "-unit code (",
        c.code().mean_size(), " means, ", c.code().precision_size(),
        " precisions), or is not finite, or lacks its score tables"));
  }
  return absl::OkStatus();
}

bool HasCodeScores(const v1::AnomalyCalibration& c) { return c.code().mean_size() > 0; }

bool HasEnsembleScore(const v1::AnomalyCalibration& c) { return c.ensemble().codes_size() > 0; }

namespace {

// Mean and inverse covariance of the rows of z, the covariance shrunk
// toward a scaled identity and its eigenvalues floored (ShrunkCovariance).
void FitGaussian(const Eigen::MatrixXd& z, Eigen::RowVectorXd* mean, Eigen::MatrixXd* precision) {
  *mean = z.colwise().mean();
  const Eigen::MatrixXd centered = z.rowwise() - *mean;
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eigen(ShrunkCovariance(centered));
  const Eigen::VectorXd& values = eigen.eigenvalues();  // ascending
  const double floor = std::max(values(values.size() - 1) / kMaxCodeConditionNumber, 1e-12);
  const Eigen::VectorXd inverse = values.cwiseMax(floor).cwiseInverse();
  *precision = eigen.eigenvectors() * inverse.asDiagonal() * eigen.eigenvectors().transpose();
}

// Squared Mahalanobis distances of the rows of z.
Eigen::VectorXd Distances(const Eigen::MatrixXd& z, const Eigen::RowVectorXd& mean,
                          const Eigen::MatrixXd& precision) {
  const Eigen::MatrixXd centered = z.rowwise() - mean;
  return ((centered * precision).array() * centered.array()).rowwise().sum();
}

}  // namespace

absl::StatusOr<v1::CodeGaussian> FitCodeGaussian(const Matrix& codes,
                                                 const std::atomic<bool>* cancel) {
  // A Gaussian over k units needs far fewer rows than large training sets
  // have: fit on every step-th row, which bounds the copies below.
  constexpr Eigen::Index kMaxRows = 100000;
  const Eigen::Index step = std::max<Eigen::Index>(1, (codes.rows() + kMaxRows - 1) / kMaxRows);
  Eigen::MatrixXd z((codes.rows() + step - 1) / step, codes.cols());
  for (Eigen::Index r = 0; r < z.rows(); ++r) z.row(r) = codes.row(r * step).cast<double>();
  Eigen::RowVectorXd mean;
  Eigen::MatrixXd precision;
  FitGaussian(z, &mean, &precision);
  // The training rows hold anomalies too, which pull the mean and widen the
  // covariance towards themselves. Refit on the 80% of rows nearest the
  // last fit until that set settles (concentration steps, as in FastMCD;
  // each one shrinks the covariance's determinant).
  constexpr double kCore = 0.8;
  constexpr int kMaxSteps = 10;
  std::vector<Eigen::Index> core;
  for (int step = 0; step < kMaxSteps; ++step) {
    // Each step is an eigensolve of the k x k covariance: O(k^3).
    if (absl::Status s = CheckCancel(cancel, "calibration"); !s.ok()) return s;
    const Eigen::VectorXd d = Distances(z, mean, precision);
    std::vector<double> sorted(d.data(), d.data() + d.size());
    const size_t at = static_cast<size_t>(kCore * static_cast<double>(sorted.size() - 1));
    std::nth_element(sorted.begin(), sorted.begin() + at, sorted.end());
    std::vector<Eigen::Index> next;
    for (Eigen::Index r = 0; r < z.rows(); ++r) {
      if (d(r) <= sorted[at]) next.push_back(r);
    }
    if (next == core || next.size() <= static_cast<size_t>(z.cols()) ||
        next.size() == static_cast<size_t>(z.rows())) {
      break;
    }
    core = std::move(next);
    Eigen::MatrixXd kept(static_cast<Eigen::Index>(core.size()), z.cols());
    for (size_t i = 0; i < core.size(); ++i) kept.row(static_cast<Eigen::Index>(i)) = z.row(core[i]);
    FitGaussian(kept, &mean, &precision);
  }
  // Scaled so that the median training row is at distance 1 per code unit
  // (CodeDistances divides by k): the core's covariance is narrower than
  // all rows' by a factor that depends on the data.
  const Eigen::VectorXd d = Distances(z, mean, precision);
  std::vector<double> sorted(d.data(), d.data() + d.size());
  std::nth_element(sorted.begin(), sorted.begin() + sorted.size() / 2, sorted.end());
  const double median = sorted[sorted.size() / 2] / static_cast<double>(z.cols());
  if (median > 0) precision /= median;
  v1::CodeGaussian g;
  for (Eigen::Index i = 0; i < mean.size(); ++i) g.add_mean(static_cast<float>(mean(i)));
  for (Eigen::Index i = 0; i < precision.rows(); ++i) {
    for (Eigen::Index j = 0; j < precision.cols(); ++j) {
      g.add_precision(static_cast<float>(precision(i, j)));
    }
  }
  return g;
}

Eigen::MatrixXd ShrunkCovariance(const Eigen::MatrixXd& centered) {
  const Eigen::Index p = centered.cols();
  const double n = static_cast<double>(std::max<Eigen::Index>(1, centered.rows()));
  const Eigen::MatrixXd s = centered.transpose() * centered / n;
  // Ledoit and Wolf (2004), "A well-conditioned estimator for large-
  // dimensional covariance matrices", section 3.3: the target mu * I with
  // mu = tr(S) / p; d2 = |S - mu I|^2 (Frobenius); b2 = the mean over rows
  // of |x x' - S|^2 / n, which is (sum |x|^4 - n |S|^2) / n^2, at most d2;
  // the weight of the target is b2 / d2.
  const double mu = s.trace() / static_cast<double>(p);
  const Eigen::MatrixXd target = mu * Eigen::MatrixXd::Identity(p, p);
  const double d2 = (s - target).squaredNorm();
  const double fourth = centered.rowwise().squaredNorm().array().square().sum();
  const double b2 = std::clamp((fourth - n * s.squaredNorm()) / (n * n), 0.0, d2);
  const double shrinkage = d2 > 0 ? b2 / d2 : 0.0;
  return (1 - shrinkage) * s + shrinkage * target;
}

Eigen::VectorXf CodeDistances(const v1::CodeGaussian& g, const Matrix& codes) {
  // In double, each row alone and in a fixed order: a precision of
  // condition number up to kMaxCodeConditionNumber amplifies the rounding
  // of (z - mean) by as much, which float (6e-8) could not absorb; double
  // keeps a score within ~1e-12 of the exact value of its inputs.
  // d = sum_i c_i (P' c)_i, from the stored P row by row (no symmetry
  // assumed), each (P' c)_i summed over j ascending.
  const Eigen::Index k = g.mean_size();
  const float* mean = g.mean().data();
  const float* precision = g.precision().data();
  Eigen::VectorXf out(codes.rows());
  std::vector<double> c(static_cast<size_t>(k)), y(static_cast<size_t>(k));
  for (Eigen::Index r = 0; r < codes.rows(); ++r) {
    for (Eigen::Index i = 0; i < k; ++i) {
      c[i] = static_cast<double>(codes(r, i)) - static_cast<double>(mean[i]);
    }
    std::fill(y.begin(), y.end(), 0.0);
    for (Eigen::Index j = 0; j < k; ++j) {
      const float* row = precision + j * k;
      const double cj = c[j];
      for (Eigen::Index i = 0; i < k; ++i) y[i] += static_cast<double>(row[i]) * cj;
    }
    double d = 0;
    for (Eigen::Index i = 0; i < k; ++i) d += c[i] * y[i];
    out(r) = static_cast<float>(d / static_cast<double>(k));
  }
  return out;
}

Eigen::VectorXf RowMeans(const Matrix& values) {
  Eigen::VectorXf out(values.rows());
  const double cols = static_cast<double>(values.cols());
  for (Eigen::Index r = 0; r < values.rows(); ++r) {
    const float* row = values.data() + r * values.cols();
    // Four partial sums, column j into sum[j % 4], then added in one order:
    // fixed, whatever the row's place, and four times the adds in flight.
    double sum[4] = {0, 0, 0, 0};
    Eigen::Index j = 0;
    for (; j + 4 <= values.cols(); j += 4) {
      for (int q = 0; q < 4; ++q) sum[q] += row[j + q];
    }
    for (; j < values.cols(); ++j) sum[j % 4] += row[j];
    out(r) = static_cast<float>(((sum[0] + sum[1]) + (sum[2] + sum[3])) / cols);
  }
  return out;
}

Eigen::VectorXf RowScores(const v1::AnomalyCalibration& c, ScoreMetric metric,
                          const Matrix& errors, const Matrix& code) {
  switch (metric) {
    case ScoreMetric::kMeanSquared:
    case ScoreMetric::kMeanAbsolute:
      return RowMeans(errors);
    case ScoreMetric::kCodeDistance:
      return CodeDistances(c.code(), code);
    case ScoreMetric::kCombined:
      return CombinedScores(c, RowMeans(errors), code);
    case ScoreMetric::kEnsemble:
      break;  // Model::Score's
  }
  return RowMeans(errors);
}

ScoreMetric DefaultMetric(const v1::AnomalyCalibration& c) {
  if (HasEnsembleScore(c)) return ScoreMetric::kEnsemble;
  return HasCodeScores(c) ? ScoreMetric::kCombined : ScoreMetric::kMeanSquared;
}

namespace {

// Each metric's CLI name and one-line description.
struct MetricText {
  ScoreMetric metric;
  const char* name;
  const char* description;
};
constexpr MetricText kMetricTexts[] = {
    {ScoreMetric::kMeanSquared, "mse", "mse: mean squared reconstruction error"},
    {ScoreMetric::kMeanAbsolute, "mae", "mae: mean absolute reconstruction error"},
    {ScoreMetric::kCodeDistance, "code", "code distance"},
    {ScoreMetric::kCombined, "combined", "combined: code distance + MSE / median training MSE"},
    {ScoreMetric::kEnsemble, "ensemble",
     "ensemble: the mean over the ensemble's networks of how far the row's code is from the "
     "training codes (whitened, and not), plus how far into the training data's tails its "
     "values lie, feature by feature; each term log(1 + term / its training median); in "
     "models trained since issue 33, averaged with an isolation forest's score, each in "
     "units of its deviation over the training rows"},
};

const MetricText& TextOf(ScoreMetric metric) {
  for (const MetricText& t : kMetricTexts) {
    if (t.metric == metric) return t;
  }
  return kMetricTexts[0];
}

}  // namespace

const char* MetricDescription(ScoreMetric metric) { return TextOf(metric).description; }

const char* MetricName(ScoreMetric metric) { return TextOf(metric).name; }

Eigen::VectorXf CombinedScores(const v1::AnomalyCalibration& c, const Eigen::VectorXf& row_mse,
                               const Matrix& codes) {
  return CodeDistances(c.code(), codes) + row_mse / c.mse_scale();
}

const v1::ScoreDistribution& ScoreDistributionOf(const v1::AnomalyCalibration& c,
                                                 ScoreMetric metric) {
  switch (metric) {
    case ScoreMetric::kMeanSquared:
      return c.mean_squared();
    case ScoreMetric::kMeanAbsolute:
      return c.mean_absolute();
    case ScoreMetric::kCodeDistance:
      return c.code_distance();
    case ScoreMetric::kCombined:
      return c.combined();
    case ScoreMetric::kEnsemble:
      return c.ensemble().scores();
  }
  return c.mean_squared();
}

double PercentileOfScore(const v1::ScoreDistribution& distribution, float score) {
  const auto& q = distribution.quantiles();
  if (q.empty()) return 0;
  if (std::isnan(score)) return 100;  // no score is worse
  if (score < q[0]) return 0;
  if (q.size() == 1 || score >= q[q.size() - 1]) return 100;
  // Last grid point at or below the score, then interpolate to the next.
  const auto it = std::upper_bound(q.begin(), q.end(), score);
  // Within [0, size - 2] for any table (ValidateCalibration keeps NaN out,
  // which would otherwise send the search to the end).
  const int i = std::clamp(static_cast<int>(it - q.begin()) - 1, 0, q.size() - 2);
  const double span = static_cast<double>(q[i + 1]) - q[i];
  const double frac = span > 0 ? (score - q[i]) / span : 0.0;
  return 100.0 * (i + frac) / (q.size() - 1);
}

}  // namespace strata
