// How far two trained models' weights and thresholds are apart, for tests
// that train the same model two ways (one process, or data-parallel ranks).
#ifndef STRATA_TESTS_TESTING_MODEL_DIFF_H_
#define STRATA_TESTS_TESTING_MODEL_DIFF_H_

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "core/model/model.h"

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

// "" when every parameter of the two models, the served network's, each
// ensemble network's and the classifier head's, is the same bits; else
// which tensor differs first. For two trainings that must be the same
// computation (in memory and mapped, run to run, any thread count).
inline std::string FirstWeightDifference(const Model& a, const Model& b) {
  const auto same = [](const auto& x, const auto& y) {
    // An empty tensor's data() is null, which memcmp must not get.
    return x.size() == y.size() &&
           (x.size() == 0 || std::memcmp(x.data(), y.data(),
                                         sizeof(*x.data()) * static_cast<size_t>(x.size())) == 0);
  };
  const auto network = [&](const StackedAutoencoder& x, const StackedAutoencoder& y,
                           const std::string& name) -> std::string {
    const Parameters& px = x.parameters();
    const Parameters& py = y.parameters();
    if (px.weights.size() != py.weights.size()) return name + ": layer counts";
    for (size_t l = 0; l < px.weights.size(); ++l) {
      const std::string at = name + " layer " + std::to_string(l);
      if (!same(px.weights[l], py.weights[l])) return at + " weights";
      if (!same(px.biases[l], py.biases[l])) return at + " biases";
      if (l < px.out_scale.size() && l < py.out_scale.size() &&
          (!same(px.out_scale[l], py.out_scale[l]) || !same(px.out_shift[l], py.out_shift[l]))) {
        return at + " output scales";
      }
    }
    return "";
  };
  if (std::string d = network(a.autoencoder(), b.autoencoder(), "served network"); !d.empty()) {
    return d;
  }
  if (a.ensemble().size() != b.ensemble().size()) return "ensemble sizes";
  for (size_t m = 0; m < a.ensemble().size(); ++m) {
    if (std::string d =
            network(a.ensemble()[m], b.ensemble()[m], "ensemble network " + std::to_string(m + 2));
        !d.empty()) {
      return d;
    }
  }
  if (a.classifier().has_value() != b.classifier().has_value()) return "classifier heads";
  if (a.classifier().has_value() && (!same(a.classifier()->weights, b.classifier()->weights) ||
                                     !same(a.classifier()->bias, b.classifier()->bias))) {
    return "classifier head";
  }
  return "";
}

// |a - b| / |a|.
inline double RelativeDifference(double a, double b) {
  return std::abs(a - b) / std::max(std::abs(a), 1e-12);
}

}  // namespace strata::testing

#endif  // STRATA_TESTS_TESTING_MODEL_DIFF_H_
