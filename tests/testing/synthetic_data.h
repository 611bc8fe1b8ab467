// Synthetic data sets for core tests, drawn from a seed.
#ifndef STRATA_TESTS_TESTING_SYNTHETIC_DATA_H_
#define STRATA_TESTS_TESTING_SYNTHETIC_DATA_H_

#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "core/nn/matrix.h"

namespace strata::testing {

// Rows of i.i.d. N(0, 1) entries (or U(lo, hi) with Uniform).
template <typename T = float>
MatrixT<T> GaussianMatrix(int rows, int cols, uint64_t seed, double stddev = 1.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, stddev);
  MatrixT<T> m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<T>(normal(rng));
  return m;
}

template <typename T = float>
MatrixT<T> UniformMatrix(int rows, int cols, uint64_t seed, double lo, double hi) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uniform(lo, hi);
  MatrixT<T> m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<T>(uniform(rng));
  return m;
}

// `rows` points near a `latent`-dimensional nonlinear manifold embedded in
// `cols` dimensions: x = tanh(z A) B + noise, z ~ N(0, I).
inline Matrix ManifoldData(int rows, int cols, int latent, uint64_t seed, double noise = 0.05) {
  const Matrix z = GaussianMatrix(rows, latent, seed);
  const Matrix a = GaussianMatrix(latent, cols, seed + 1);
  const Matrix b = GaussianMatrix(cols, cols, seed + 2, 1.0 / std::sqrt(cols));
  Matrix h = z * a;
  h = h.array().tanh().matrix();
  return h * b + GaussianMatrix(rows, cols, seed + 3, noise);
}

// `rows` points around `classes` centres drawn from N(0, 2^2) in `cols`
// dimensions, N(0, spread^2) around each; row i belongs to class i % classes.
struct Blobs {
  Matrix rows;
  std::vector<int> classes;
};
inline Blobs GaussianBlobs(int rows, int cols, int classes, uint64_t seed, double spread = 0.3) {
  const Matrix centres = GaussianMatrix(classes, cols, seed, 2.0);
  Blobs blobs;
  blobs.rows = GaussianMatrix(rows, cols, seed + 1, spread);
  for (int r = 0; r < rows; ++r) {
    blobs.classes.push_back(r % classes);
    blobs.rows.row(r) += centres.row(r % classes);
  }
  return blobs;
}

// `rows` as CSV text under `header` (default c0, c1, ...), each value
// printed so that it parses back to the same float.
inline std::string CsvText(const Matrix& rows, const std::string& header = "") {
  std::string out = header;
  for (Eigen::Index c = 0; header.empty() && c < rows.cols(); ++c) {
    out += (c ? ",c" : "c") + std::to_string(c);
  }
  out += "\n";
  char cell[32];
  for (Eigen::Index r = 0; r < rows.rows(); ++r) {
    for (Eigen::Index c = 0; c < rows.cols(); ++c) {
      std::snprintf(cell, sizeof(cell), c ? ",%.9g" : "%.9g", rows(r, c));
      out += cell;
    }
    out += "\n";
  }
  return out;
}

}  // namespace strata::testing

#endif  // STRATA_TESTS_TESTING_SYNTHETIC_DATA_H_
