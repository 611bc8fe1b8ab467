// t-SNE maps of a few thousand points, and how faithful a map is.
//
//   absl::StatusOr<TsneResult> map = Tsne(codes, TsneOptions());
//   absl::StatusOr<double> t = Trustworthiness(codes, map->embedding, 10);
//
// Exact t-SNE (van der Maaten and Hinton 2008): O(n^2) time and memory per
// iteration, which at the 2,000 points strata report maps is a few seconds
// and at most 80 MB of n x n matrices (P in float; distances and the
// conditional probabilities in double while P is built). Barnes-Hut's approximation pays off only
// above ~10,000 points, and its error is one more thing to explain; with
// exact gradients the map depends only on the data, the options and the
// seed. The optimisation follows the paper's and scikit-learn's defaults:
// early exaggeration 12 for the first 250 iterations, momentum 0.5 then
// 0.8, per-coordinate gains, learning rate max(n / 48, 50), and an
// initialisation on the first two principal components (scaled to a
// standard deviation of 1e-4), which keeps the map's global layout stable
// from run to run.
#ifndef STRATA_CORE_ANALYSIS_TSNE_H_
#define STRATA_CORE_ANALYSIS_TSNE_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "core/nn/matrix.h"

namespace strata {

struct TsneOptions {
  // The effective number of neighbours; lowered to (n - 1) / 3 for fewer
  // than 91 points.
  double perplexity = 30;
  int iterations = 1000;
  double early_exaggeration = 12;
  int exaggeration_iterations = 250;
  // Only for the second coordinate of one-dimensional points' start.
  uint64_t seed = 1;
};

struct TsneResult {
  Matrix embedding;          // n x 2
  double perplexity = 0;     // as used
  double kl_divergence = 0;  // KL(P || Q) of the final map
};

// A 2-D map of the rows of `points`. InvalidArgument for fewer than 4 rows,
// no columns, a non-finite value, a perplexity below 1 or no iterations.
absl::StatusOr<TsneResult> Tsne(const Matrix& points, const TsneOptions& options);

// Trustworthiness (Venna and Kaski 2001; scikit-learn's definition) of
// `embedding` as a picture of `points`: 1 when every point's k nearest
// neighbours in the map are among its k nearest in the original space,
// lower as the map brings in points that are far there; a random map
// scores about 0.5. InvalidArgument unless both have the same rows,
// 1 <= k < rows / 2, and every value is finite.
absl::StatusOr<double> Trustworthiness(const Matrix& points, const Matrix& embedding, int k);

}  // namespace strata

#endif  // STRATA_CORE_ANALYSIS_TSNE_H_
