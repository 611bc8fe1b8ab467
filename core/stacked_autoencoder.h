// StackedAutoencoderT: the network of a strata model, templated on the scalar
// so that training runs in float and the gradient check in double.
//
// Layers are numbered in forward order: encoder layers 0 .. k-1 produce
// h1 ... code, decoder layers k .. 2k-1 mirror them and end at the output.
//
//   absl::StatusOr<StackedAutoencoder> net = StackedAutoencoder::Create(arch, /*seed=*/7);
//   Matrix code = net->Encode(scaled_batch, net->depth());
//   Matrix out = net->Reconstruct(scaled_batch);
//
// Thread-safe for concurrent const use; not for concurrent mutation.
#ifndef STRATA_CORE_STACKED_AUTOENCODER_H_
#define STRATA_CORE_STACKED_AUTOENCODER_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/matrix.h"
#include "strata/v1/model.pb.h"

namespace strata {

// A flat view of one parameter tensor, for optimizers.
template <typename T>
struct ParameterBlock {
  T* data;
  Eigen::Index size;
  bool is_weight;  // Weight decay applies to weights, not biases.
};

// Weights and biases of every layer, or gradients of the same shape.
template <typename T>
struct ParametersT {
  // weights[l] is in x out for layer l; 0 x 0 for a tied decoder layer.
  std::vector<MatrixT<T>> weights;
  std::vector<RowVectorT<T>> biases;

  // Non-empty tensors in a fixed order (weights, then biases).
  std::vector<ParameterBlock<T>> Blocks();
  // Same shapes as `other`, all zero.
  void ResizeLikeAndZero(const ParametersT& other);
};

// Validates shapes and activations; names the offending field.
absl::Status ValidateArchitecture(const v1::Architecture& arch);

template <typename T>
class StackedAutoencoderT {
 public:
  // A network with freshly initialised weights (He for the relu family,
  // LeCun for selu, Glorot otherwise; zero biases), drawn from `seed`.
  static absl::StatusOr<StackedAutoencoderT> Create(const v1::Architecture& arch, uint64_t seed);
  // A network with the given parameters, checked against the architecture.
  static absl::StatusOr<StackedAutoencoderT> FromParameters(const v1::Architecture& arch,
                                                            ParametersT<T> params);

  const v1::Architecture& architecture() const { return arch_; }
  // Number of encoder layers k (h1 ... code).
  int depth() const { return arch_.encoder_widths_size(); }
  int num_layers() const { return 2 * depth(); }
  int input_dim() const { return arch_.input_dim(); }
  int code_dim() const { return arch_.encoder_widths(depth() - 1); }
  // Width of the features of encoder layer `layer` (1-based: 1 = h1, depth() = code).
  int layer_width(int layer) const { return arch_.encoder_widths(layer - 1); }

  int layer_in(int l) const;
  int layer_out(int l) const;
  v1::Activation layer_activation(int l) const;
  // True for a decoder layer whose weights are a transposed encoder layer.
  bool is_tied(int l) const { return arch_.tied_weights() && l >= depth(); }
  // For a tied decoder layer, the encoder layer whose weights it shares.
  int mirror_of(int l) const { return num_layers() - 1 - l; }
  T leaky_slope() const { return static_cast<T>(arch_.leaky_relu_slope()); }

  // out = activation(in * W_l + b_l), where W_l may be a transposed tied weight.
  void LayerForward(int l, const MatrixT<T>& in, MatrixT<T>* out) const;
  // Features of encoder layer `layer` (1 ... depth()) for a scaled batch.
  MatrixT<T> Encode(const MatrixT<T>& x, int layer) const;
  // Reconstruction of a scaled batch, in scaled units; also the code layer's
  // features when `code` is not null (same pass).
  MatrixT<T> Reconstruct(const MatrixT<T>& x, MatrixT<T>* code = nullptr) const;

  const ParametersT<T>& parameters() const { return params_; }
  ParametersT<T>* mutable_parameters() { return &params_; }

  // The same network with parameters converted to scalar U.
  template <typename U>
  StackedAutoencoderT<U> Cast() const;

 private:
  StackedAutoencoderT(v1::Architecture arch, ParametersT<T> params)
      : arch_(std::move(arch)), params_(std::move(params)) {}
  template <typename U>
  friend class StackedAutoencoderT;

  v1::Architecture arch_;
  ParametersT<T> params_;
};

using StackedAutoencoder = StackedAutoencoderT<float>;
using Parameters = ParametersT<float>;

template <typename T>
template <typename U>
StackedAutoencoderT<U> StackedAutoencoderT<T>::Cast() const {
  ParametersT<U> p;
  for (const auto& w : params_.weights) p.weights.push_back(w.template cast<U>());
  for (const auto& b : params_.biases) p.biases.push_back(b.template cast<U>());
  return StackedAutoencoderT<U>(arch_, std::move(p));
}

}  // namespace strata

#endif  // STRATA_CORE_STACKED_AUTOENCODER_H_
