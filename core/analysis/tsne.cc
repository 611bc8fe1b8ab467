#include "core/analysis/tsne.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/analysis/pca.h"

namespace strata {
namespace {

// Squared Euclidean distances between the rows, in double precision.
Eigen::MatrixXd SquaredDistances(const Matrix& points) {
  const Eigen::MatrixXd x = points.cast<double>();
  const Eigen::VectorXd norms = x.rowwise().squaredNorm();
  Eigen::MatrixXd d = -2.0 * x * x.transpose();
  d.colwise() += norms;
  d.rowwise() += norms.transpose();
  return d.cwiseMax(0.0);
}

// The joint probabilities P (n x n, symmetric, zero diagonal): each row's
// Gaussian of the precision whose entropy is log(perplexity), then
// (P_j|i + P_i|j) / 2n.
Eigen::MatrixXf JointProbabilities(const Eigen::MatrixXd& distances, double perplexity) {
  const Eigen::Index n = distances.rows();
  const double target = std::log(perplexity);
  Eigen::MatrixXd conditional = Eigen::MatrixXd::Zero(n, n);
#pragma omp parallel for schedule(static)
  for (Eigen::Index i = 0; i < n; ++i) {
    Eigen::ArrayXd d = distances.col(i).array();
    d(i) = std::numeric_limits<double>::infinity();
    d -= d.minCoeff();  // the nearest at 0: exp() never underflows to all zeros
    double beta = 1, lo = 0, hi = std::numeric_limits<double>::infinity();
    Eigen::ArrayXd p;
    for (int step = 0; step < 100; ++step) {
      p = (-beta * d).exp();
      const double sum = std::max(p.sum(), 1e-300);
      const double entropy =
          std::log(sum) +
          beta * (d * p).unaryExpr([](double v) { return std::isfinite(v) ? v : 0.0; }).sum() / sum;
      if (std::abs(entropy - target) < 1e-5) break;
      if (entropy > target) {
        lo = beta;
        beta = std::isinf(hi) ? beta * 2 : (beta + hi) / 2;
      } else {
        hi = beta;
        beta = (beta + lo) / 2;
      }
    }
    conditional.col(i) = p / std::max(p.sum(), 1e-300);
  }
  // Symmetrised straight into float: no n x n temporaries.
  Eigen::MatrixXf out(n, n);
  const double scale = 1.0 / (2.0 * n);
  for (Eigen::Index j = 0; j < n; ++j) {
    for (Eigen::Index i = 0; i < n; ++i) {
      out(i, j) =
          i == j ? 0.0f
                 : std::max(static_cast<float>((conditional(i, j) + conditional(j, i)) * scale),
                            1e-12f);
    }
  }
  return out;
}

// The first two principal components, scaled to a standard deviation of
// 1e-4 along the first; a seeded Gaussian where the points give no second.
Eigen::MatrixXf Initialise(const Matrix& points, uint64_t seed) {
  const Eigen::Index n = points.rows();
  Eigen::MatrixXf y(n, 2);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  for (Eigen::Index i = 0; i < n; ++i) y(i, 0) = gauss(rng), y(i, 1) = gauss(rng);
  const int k = std::min<int>(2, static_cast<int>(points.cols()));
  absl::StatusOr<Pca> pca = FitPca(points, k);
  if (pca.ok()) {
    const Matrix projected = pca->Project(points);
    for (int c = 0; c < k; ++c) {
      const Eigen::VectorXf column = projected.col(c);
      const float spread = std::sqrt((column.array() - column.mean()).square().mean());
      if (spread > 0) y.col(c) = column;
    }
  }
  for (int c = 0; c < 2; ++c) {
    const float spread = std::sqrt((y.col(c).array() - y.col(c).mean()).square().mean());
    y.col(c) *= 1e-4f / std::max(spread, 1e-30f);
  }
  return y;
}

}  // namespace

absl::StatusOr<TsneResult> Tsne(const Matrix& points, const TsneOptions& options) {
  const Eigen::Index n = points.rows();
  if (n < 4 || points.cols() < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "t-SNE needs at least 4 points of 1 or more values, not ", n, " x ", points.cols()));
  }
  if (!points.allFinite()) return absl::InvalidArgumentError("t-SNE: a point is not finite");
  if (!(options.perplexity >= 1) || options.iterations < 1) {
    return absl::InvalidArgumentError("t-SNE needs perplexity >= 1 and at least one iteration");
  }
  TsneResult result;
  result.perplexity = std::min(options.perplexity, (n - 1) / 3.0);
  // Peak memory here: the distances and conditionals (double) and P (float),
  // 80 MB at 2,000 points; then P and the kernel, 32 MB.
  const Eigen::MatrixXf p = JointProbabilities(SquaredDistances(points), result.perplexity);

  Eigen::MatrixXf y = Initialise(points, options.seed);
  Eigen::MatrixXf update = Eigen::MatrixXf::Zero(n, 2);
  Eigen::MatrixXf gains = Eigen::MatrixXf::Ones(n, 2);
  Eigen::MatrixXf gradient(n, 2);
  Eigen::MatrixXf kernel(n, n);  // 1 / (1 + |y_i - y_j|^2), zero diagonal
  Eigen::VectorXd kernel_sums(n);
  const float rate = static_cast<float>(std::max(n / options.early_exaggeration / 4.0, 50.0));
  double z = 1;
  for (int it = 0; it < options.iterations; ++it) {
    const bool early = it < options.exaggeration_iterations;
    const float exaggeration = early ? static_cast<float>(options.early_exaggeration) : 1.0f;
    const float momentum = early ? 0.5f : 0.8f;
    const Eigen::ArrayXf y0 = y.col(0).array(), y1 = y.col(1).array();
#pragma omp parallel for schedule(static)
    for (Eigen::Index i = 0; i < n; ++i) {
      kernel.col(i) = ((y0 - y0(i)).square() + (y1 - y1(i)).square() + 1.0f).inverse().matrix();
      kernel(i, i) = 0;
      kernel_sums(i) = kernel.col(i).cast<double>().sum();
    }
    z = std::max(kernel_sums.sum(), 1e-300);  // summed in order: runs repeat exactly
    const float inv_z = static_cast<float>(1.0 / z);
#pragma omp parallel for schedule(static)
    for (Eigen::Index i = 0; i < n; ++i) {
      const Eigen::ArrayXf q = kernel.col(i).array();
      const Eigen::ArrayXf w = (exaggeration * p.col(i).array() - q * inv_z) * q;
      gradient(i, 0) = 4.0f * (w * (y0(i) - y0)).sum();
      gradient(i, 1) = 4.0f * (w * (y1(i) - y1)).sum();
    }
    // Per-coordinate gains: up where the step turned, down where it held.
    for (Eigen::Index i = 0; i < n; ++i) {
      for (int c = 0; c < 2; ++c) {
        float& g = gains(i, c);
        g = (update(i, c) * gradient(i, c) < 0) ? g + 0.2f : g * 0.8f;
        g = std::max(g, 0.01f);
        update(i, c) = momentum * update(i, c) - rate * g * gradient(i, c);
      }
    }
    y += update;
  }
  // KL(P || Q) under the last kernel.
  double kl = 0;
  for (Eigen::Index j = 0; j < n; ++j) {
    for (Eigen::Index i = 0; i < n; ++i) {
      if (i == j) continue;
      const double pij = p(i, j), qij = std::max(kernel(i, j) / z, 1e-300);
      kl += pij * std::log(pij / qij);
    }
  }
  result.kl_divergence = kl;
  result.embedding = y;
  return result;
}

absl::StatusOr<double> Trustworthiness(const Matrix& points, const Matrix& embedding, int k) {
  const Eigen::Index n = points.rows();
  if (embedding.rows() != n || k < 1 || 2 * k >= n) {
    return absl::InvalidArgumentError(
        absl::StrCat("trustworthiness needs as many map points as points (", embedding.rows(),
                     " for ", n, ") and 1 <= k < rows / 2 (k = ", k, ")"));
  }
  if (!points.allFinite() || !embedding.allFinite()) {
    return absl::InvalidArgumentError("trustworthiness: a point is not finite");
  }
  const Eigen::MatrixXd high = SquaredDistances(points);
  const Eigen::MatrixXd low = SquaredDistances(embedding);
  std::vector<double> penalties(static_cast<size_t>(n), 0.0);
#pragma omp parallel for schedule(static)
  for (Eigen::Index i = 0; i < n; ++i) {
    // Ranks (1 = nearest) of every other point in the original space; ties
    // broken by index, as a stable sort does.
    std::vector<Eigen::Index> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](Eigen::Index a, Eigen::Index b) {
      if (a == i || b == i) return b != i && a == i;  // self first, then skipped
      return high(a, i) < high(b, i);
    });
    std::vector<Eigen::Index> rank(static_cast<size_t>(n), 0);
    for (Eigen::Index r = 1; r < n; ++r) rank[order[r]] = r;
    // The k nearest in the map.
    std::iota(order.begin(), order.end(), 0);
    order.erase(order.begin() + i);
    std::partial_sort(order.begin(), order.begin() + k, order.end(),
                      [&](Eigen::Index a, Eigen::Index b) {
                        return low(a, i) < low(b, i) || (low(a, i) == low(b, i) && a < b);
                      });
    double penalty = 0;
    for (int m = 0; m < k; ++m) penalty += std::max<Eigen::Index>(0, rank[order[m]] - k);
    penalties[i] = penalty;
  }
  const double total = std::accumulate(penalties.begin(), penalties.end(), 0.0);
  const double dn = static_cast<double>(n);
  return 1.0 - 2.0 / (dn * k * (2.0 * dn - 3.0 * k - 1.0)) * total;
}

}  // namespace strata
