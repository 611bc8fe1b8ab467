#include "core/analysis/pca.h"

#include <Eigen/Eigenvalues>

#include "absl/strings/str_cat.h"

namespace strata {

Matrix Pca::Project(const Matrix& x) const {
  return (x.rowwise() - mean) * components.transpose();
}

Matrix Pca::Reconstruct(const Matrix& x) const {
  Matrix out = Project(x) * components;
  out.rowwise() += mean;
  return out;
}

absl::StatusOr<Pca> FitPca(const Matrix& x, int components) {
  if (x.rows() < 2) return absl::InvalidArgumentError("PCA needs at least 2 rows");
  if (components < 1 || components > x.cols()) {
    return absl::InvalidArgumentError(
        absl::StrCat("PCA components must be in [1, ", x.cols(), "], got ", components));
  }
  Pca pca;
  const Eigen::MatrixXd xd = x.cast<double>();
  const Eigen::RowVectorXd mean = xd.colwise().mean();
  const Eigen::MatrixXd centered = xd.rowwise() - mean;
  Eigen::MatrixXd cov(x.cols(), x.cols());
  cov.setZero();
  cov.selfadjointView<Eigen::Lower>().rankUpdate(centered.transpose());
  cov = cov.selfadjointView<Eigen::Lower>();
  cov /= static_cast<double>(x.rows() - 1);
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(cov);
  if (solver.info() != Eigen::Success) {
    return absl::InternalError("PCA: the eigendecomposition did not converge");
  }
  // Eigenvalues come in ascending order: take the last `components`.
  const Eigen::Index n = x.cols();
  pca.mean = mean.cast<float>();
  pca.components.resize(components, n);
  pca.variance.resize(components);
  for (int i = 0; i < components; ++i) {
    pca.components.row(i) = solver.eigenvectors().col(n - 1 - i).transpose().cast<float>();
    pca.variance(i) = static_cast<float>(std::max(0.0, solver.eigenvalues()(n - 1 - i)));
  }
  pca.total_variance = cov.trace();
  return pca;
}

}  // namespace strata
