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
  // While training, the code is standardised before the weights apply,
  // (code - input_shift) .* input_scale, so that the optimizer's steps
  // suit the code's scale, whatever the encoder's. Not trained. Empty: no
  // standardisation, as a head is served (FoldInputStandardisation folds
  // them into weights and bias).
  RowVectorT<T> input_shift;  // code width, or empty
  RowVectorT<T> input_scale;  // code width, or empty

  // Glorot-uniform weights drawn from `seed`, zero biases.
  // REQUIRES: code_dim >= 1, classes >= 2.
  static ClassifierHeadT Create(int code_dim, int classes, uint64_t seed);

  int classes() const { return static_cast<int>(bias.cols()); }
  // Softmax of code * weights + bias, per row.
  MatrixT<T> Probabilities(const MatrixT<T>& code) const;
  // The weights and the bias, for optimizers.
  std::vector<ParameterBlock<T>> Blocks();
  // Same shapes as `other`, all zero (no standardisation).
  void ResizeLikeAndZero(const ClassifierHeadT& other);
  // Standardises the code with the mean of each of `code`'s columns and
  // one scale for all: 1 / the root of the columns' mean variance (1 when
  // nothing varies). Units keep their relative spreads.
  // REQUIRES: code.cols() == weights.rows(), code.rows() >= 1.
  void SetInputStandardisation(const MatrixT<T>& code);
  // weights <- diag(input_scale) weights and bias <- bias - (input_shift .*
  // input_scale) weights, then no standardisation: the same logits up to
  // rounding, from code * weights + bias alone.
  void FoldInputStandardisation();
  template <typename U>
  ClassifierHeadT<U> Cast() const {
    return {weights.template cast<U>(), bias.template cast<U>(), input_shift.template cast<U>(),
            input_scale.template cast<U>()};
  }
};

using ClassifierHead = ClassifierHeadT<float>;

// Mean over the labelled rows of -log softmax(code * W + b)[class]; a row
// whose class is negative has no label: it adds nothing, and its gradient
// is 0 (0 with no labelled row). When `grads` is not null, writes
// d(loss)/d(head) into it (resized as needed); when `d_code` is not null,
// d(loss)/d(code).
// REQUIRES: classes.size() == code.rows() >= 1, each < head.classes().
template <typename T>
double CrossEntropy(const ClassifierHeadT<T>& head, const MatrixT<T>& code,
                    absl::Span<const int> classes, ClassifierHeadT<T>* grads,
                    MatrixT<T>* d_code);

// A gradient-descent rate for `head` alone on `code`: 1 / the largest
// eigenvalue of the covariance of the head's (standardised) input, which
// bounds the curvature of the softmax cross-entropy in any direction by
// half of it. Power iteration from a fixed start, in double (1 / the
// covariance's trace, a lower rate, when that finds no direction).
// REQUIRES: code.cols() == head.weights.rows(), code.rows() >= 1.
double HeadLearningRate(const ClassifierHead& head, const Matrix& code);

// Each row's most probable class (the first of ties).
std::vector<int> TopClasses(const Matrix& probabilities);

}  // namespace strata

#endif  // STRATA_CORE_NN_CLASSIFIER_HEAD_H_
