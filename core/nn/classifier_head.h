// ClassifierHeadT: a softmax classifier on a stacked autoencoder's code (the
// head of supervised fine-tuning), with its cross-entropy and gradient.
// Templated on the scalar, as the network is, so that training runs in
// float and the gradient check in double.
//
//   ClassifierHead head = ClassifierHead::Create(code_dim, classes, seed);
//   Matrix probabilities = head.Probabilities(code);
//   double loss = CrossEntropy(head, code, classes_of_rows, &head_grads, &d_code);
//
// Thread-safe for concurrent const use.
#ifndef STRATA_CORE_NN_CLASSIFIER_HEAD_H_
#define STRATA_CORE_NN_CLASSIFIER_HEAD_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "core/nn/matrix.h"
#include "core/nn/stacked_autoencoder.h"

namespace strata {

template <typename T>
struct ClassifierHeadT {
  MatrixT<T> weights;  // code width x classes
  RowVectorT<T> bias;  // classes

  // Glorot-uniform weights drawn from `seed`, zero biases.
  // REQUIRES: code_dim >= 1, classes >= 2.
  static ClassifierHeadT Create(int code_dim, int classes, uint64_t seed);

  int classes() const { return static_cast<int>(bias.cols()); }
  // Softmax of code * weights + bias, per row.
  MatrixT<T> Probabilities(const MatrixT<T>& code) const;
  // The weights and the bias, for optimizers.
  std::vector<ParameterBlock<T>> Blocks();
  // Same shapes as `other`, all zero.
  void ResizeLikeAndZero(const ClassifierHeadT& other);
  template <typename U>
  ClassifierHeadT<U> Cast() const {
    return {weights.template cast<U>(), bias.template cast<U>()};
  }
};

using ClassifierHead = ClassifierHeadT<float>;

// Mean over rows of -log softmax(code * W + b)[class]. When `grads` is not
// null, writes d(loss)/d(head) into it (resized as needed); when `d_code`
// is not null, d(loss)/d(code).
// REQUIRES: classes.size() == code.rows() >= 1, each in [0, head.classes()).
template <typename T>
double CrossEntropy(const ClassifierHeadT<T>& head, const MatrixT<T>& code,
                    absl::Span<const int> classes, ClassifierHeadT<T>* grads,
                    MatrixT<T>* d_code);

// Each row's most probable class (the first of ties).
std::vector<int> TopClasses(const Matrix& probabilities);

}  // namespace strata

#endif  // STRATA_CORE_NN_CLASSIFIER_HEAD_H_
