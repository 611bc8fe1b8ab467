#include "core/train/supervised_evaluation.h"

#include <algorithm>
#include <cstdint>

#include "absl/types/span.h"
#include "core/nn/backprop.h"

namespace strata {
namespace train_internal {

SupervisedEvaluation EvaluateSupervised(const StackedAutoencoder& net, const ClassifierHead& head,
                                        const Matrix& x, const std::vector<int>& classes,
                                        double reconstruction_weight, v1::Loss loss,
                                        std::vector<int>* predicted) {
  constexpr Eigen::Index kChunk = 4096;
  SupervisedEvaluation e;
  if (predicted != nullptr) predicted->clear();
  int64_t correct = 0;
  Matrix code;
  for (Eigen::Index start = 0; start < x.rows(); start += kChunk) {
    const Eigen::Index n = std::min(kChunk, x.rows() - start);
    const Matrix chunk = x.middleRows(start, n);
    if (reconstruction_weight > 0) {
      e.objective += reconstruction_weight *
                     DataLoss<float>(loss, net.Reconstruct(chunk, &code), chunk) *
                     static_cast<double>(n);
    } else {
      code = net.Encode(chunk, net.depth());
    }
    const absl::Span<const int> chunk_classes(classes.data() + start, static_cast<size_t>(n));
    e.objective +=
        CrossEntropy<float>(head, code, chunk_classes, nullptr, nullptr) * static_cast<double>(n);
    const std::vector<int> top = TopClasses(head.Probabilities(code));
    for (Eigen::Index i = 0; i < n; ++i) correct += top[i] == chunk_classes[i];
    if (predicted != nullptr) predicted->insert(predicted->end(), top.begin(), top.end());
  }
  const double rows = static_cast<double>(std::max<Eigen::Index>(x.rows(), 1));
  e.objective /= rows;
  e.accuracy = static_cast<double>(correct) / rows;
  return e;
}

}  // namespace train_internal
}  // namespace strata
