// How far two trained models' weights and thresholds are apart, for tests
// that train the same model two ways (one process, or data-parallel ranks).
#ifndef STRATA_TESTS_TESTING_MODEL_DIFF_H_
#define STRATA_TESTS_TESTING_MODEL_DIFF_H_

#include <algorithm>
#include <cmath>

#include "core/model.h"

namespace strata::testing {

// max over the served network's tensors of max |a - b| / max |a|.
inline double MaxRelativeWeightDifference(const Model& a, const Model& b) {
  const Parameters& pa = a.autoencoder().parameters();
  const Parameters& pb = b.autoencoder().parameters();
  double worst = 0;
  const auto compare = [&worst](const auto& x, const auto& y) {
    if (x.size() == 0) return;
    const double scale = std::max<double>(x.cwiseAbs().maxCoeff(), 1e-6);
    worst = std::max<double>(worst, (x - y).cwiseAbs().maxCoeff() / scale);
  };
  for (size_t l = 0; l < pa.weights.size(); ++l) {
    compare(pa.weights[l], pb.weights[l]);
    compare(pa.biases[l], pb.biases[l]);
  }
  return worst;
}

// |a - b| / |a|.
inline double RelativeDifference(double a, double b) {
  return std::abs(a - b) / std::max(std::abs(a), 1e-12);
}

}  // namespace strata::testing

#endif  // STRATA_TESTS_TESTING_MODEL_DIFF_H_
