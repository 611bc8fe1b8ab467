// Principal component analysis: the linear baseline a stacked autoencoder is
// measured against (reconstruction error, anomaly scores, features), and the
// 2-D view of codes in `strata report`.
//
//   absl::StatusOr<Pca> pca = FitPca(train, /*components=*/30);
//   Matrix features = pca->Project(test);            // rows x 30
//   Matrix back = pca->Reconstruct(test);            // rows x cols
#ifndef STRATA_CORE_ANALYSIS_PCA_H_
#define STRATA_CORE_ANALYSIS_PCA_H_

#include "absl/status/statusor.h"
#include "core/nn/matrix.h"

namespace strata {

struct Pca {
  RowVector mean;                  // 1 x cols
  Matrix components;               // k x cols, orthonormal rows, largest variance first
  Eigen::VectorXf variance;        // k: the variance along each component
  double total_variance = 0;       // over all columns

  Matrix Project(const Matrix& x) const;      // (x - mean) components^T
  Matrix Reconstruct(const Matrix& x) const;  // Project(x) components + mean
};

// The top `components` principal components of the rows of `x` (covariance
// eigendecomposition, in double precision). InvalidArgument when x has fewer
// than 2 rows or components is not in [1, cols].
absl::StatusOr<Pca> FitPca(const Matrix& x, int components);

}  // namespace strata

#endif  // STRATA_CORE_ANALYSIS_PCA_H_
