#include "core/anomaly.h"

#include <algorithm>
#include <cmath>

namespace strata {

Matrix FeatureErrors(const StackedAutoencoder& net, const Scaler& scaler, const Matrix& raw,
                     ScoreMetric metric, Matrix* code) {
  const Matrix scaled = scaler.Transform(raw);
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

v1::AnomalyCalibration CalibrateAnomalyScores(const StackedAutoencoder& net, const Scaler& scaler,
                                              const Matrix& raw, double threshold_percentile) {
  constexpr Eigen::Index kChunk = 4096;
  std::vector<float> mse, mae;
  mse.reserve(static_cast<size_t>(raw.rows()));
  mae.reserve(static_cast<size_t>(raw.rows()));
  for (Eigen::Index start = 0; start < raw.rows(); start += kChunk) {
    const Eigen::Index n = std::min(kChunk, raw.rows() - start);
    const Matrix scaled = scaler.Transform(raw.middleRows(start, n));
    const Matrix diff = net.Reconstruct(scaled) - scaled;
    for (Eigen::Index r = 0; r < n; ++r) {
      mse.push_back(diff.row(r).squaredNorm() / static_cast<float>(diff.cols()));
      mae.push_back(diff.row(r).cwiseAbs().mean());
    }
  }
  v1::AnomalyCalibration c;
  c.set_threshold_percentile(threshold_percentile);
  *c.mutable_mean_squared() = DescribeScores(std::move(mse), threshold_percentile);
  *c.mutable_mean_absolute() = DescribeScores(std::move(mae), threshold_percentile);
  return c;
}

double PercentileOfScore(const v1::ScoreDistribution& distribution, float score) {
  const auto& q = distribution.quantiles();
  if (q.empty()) return 0;
  if (std::isnan(score)) return 100;  // no score is worse
  if (score < q[0]) return 0;
  if (q.size() == 1 || score >= q[q.size() - 1]) return 100;
  // Last grid point at or below the score, then interpolate to the next.
  const auto it = std::upper_bound(q.begin(), q.end(), score);
  const int i = static_cast<int>(it - q.begin()) - 1;
  const double span = static_cast<double>(q[i + 1]) - q[i];
  const double frac = span > 0 ? (score - q[i]) / span : 0.0;
  return 100.0 * (i + frac) / (q.size() - 1);
}

}  // namespace strata
