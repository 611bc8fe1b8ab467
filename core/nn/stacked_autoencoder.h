// StackedAutoencoderT: the network of a strata model, templated on the scalar
// so that training runs in float and the gradient check in double.
//
// Layers are numbered in forward order: encoder layers 0 .. k-1 produce
// h1 ... code, decoder layers k .. 2k-1 mirror them and end at the output.
// Every layer but the code and the output layer is hidden; a hidden layer
// may carry batch normalisation (architecture.batch_norm) and a skip
// (architecture.residual, where its widths are equal). Folded() turns a
// network with batch normalisation into the served form, where each one is
// part of the weights (before the activation) or a per-unit scale and shift
// (after it).
//
//   absl::StatusOr<StackedAutoencoder> net = StackedAutoencoder::Create(arch, /*seed=*/7);
//   Matrix code = net->Encode(scaled_batch, net->depth());
//   Matrix out = net->Reconstruct(scaled_batch);
//
// Thread-safe for concurrent const use; not for concurrent mutation.
#ifndef STRATA_CORE_NN_STACKED_AUTOENCODER_H_
#define STRATA_CORE_NN_STACKED_AUTOENCODER_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/nn/matrix.h"
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
  // Per layer, out wide for a layer with batch normalisation, else empty:
  // its scale and shift (trained), and running mean and variance (not).
  std::vector<RowVectorT<T>> bn_gamma, bn_beta, bn_mean, bn_var;
  // Per layer, out wide for a folded normalisation after the activation,
  // else empty.
  std::vector<RowVectorT<T>> out_scale, out_shift;

  // Non-empty trained tensors in a fixed order (weights, biases, then the
  // normalisations' scales and shifts), of layers 0 ... layers - 1 (-1: all).
  std::vector<ParameterBlock<T>> Blocks(int layers = -1);
  // Same shapes as `other`, all zero.
  void ResizeLikeAndZero(const ParametersT& other);
};

// Bounds on a network, so that neither a config (which may come from any
// client) nor a model file can ask for more memory than a server can give.
inline constexpr int kMaxLayerWidth = 1 << 16;
inline constexpr int64_t kMaxParameters = int64_t{1} << 28;  // 1 GiB of float weights

// Weights of a network with `input_dim` inputs and encoder `widths` (the
// decoder mirrors them; a tied decoder shares the encoder's). With `tied`
// false it is also the multiply-adds of one row's pass, tied or not.
// Counted in 64 bits: the widths may come from any client or model file.
int64_t WeightCount(int64_t input_dim, const google::protobuf::RepeatedField<int32_t>& widths,
                    bool tied);

// Validates shapes and activations; names the offending field.
absl::Status ValidateArchitecture(const v1::Architecture& arch);

// The epsilon of every batch normalisation, as PyTorch's.
inline constexpr double kBatchNormEpsilon = 1e-5;

template <typename T>
class StackedAutoencoderT {
 public:
  // A network with freshly initialised weights (He for the relu family,
  // LeCun for selu, Glorot otherwise; zero biases), drawn from `seed`. A
  // layer with a skip and no normalisation starts with its weights scaled by
  // 1/L, L the network's number of skip layers: its branch f(h) adds to h
  // with a mean that does not cancel (relu's is positive), so at full scale
  // the activations grow like (1 + c)^L and a deep residual stack diverges;
  // at 1/L they grow at most by a constant factor at any depth. A normalised
  // branch's scale is its normalisation's gamma, whatever its weights': it
  // keeps the plain weights and starts with gamma = 1/L instead of 1.
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
  // Neither the code layer nor the output layer.
  bool is_hidden(int l) const { return l != depth() - 1 && l != num_layers() - 1; }
  bool has_batch_norm(int l) const {
    return arch_.batch_norm() != v1::BATCH_NORM_NONE && is_hidden(l);
  }
  bool has_skip(int l) const {
    return arch_.residual() && is_hidden(l) && layer_in(l) == layer_out(l);
  }

  // out = in * W_l + b_l, where W_l may be a transposed tied weight.
  void LinearForward(int l, const MatrixT<T>& in, MatrixT<T>* out) const;
  // out = activation(in * W_l + b_l), then the layer's normalisation (running statistics) or folded
  // scale and shift, then + in for a skip.
  void LayerForward(int l, const MatrixT<T>& in, MatrixT<T>* out) const;
  // Features of encoder layer `layer` (1 ... depth()) for a scaled batch.
  MatrixT<T> Encode(const MatrixT<T>& x, int layer) const;
  // Reconstruction of a scaled batch, in scaled units; also the code layer's
  // features when `code` is not null (same pass).
  MatrixT<T> Reconstruct(const MatrixT<T>& x, MatrixT<T>* code = nullptr) const;

  const ParametersT<T>& parameters() const { return params_; }
  ParametersT<T>* mutable_parameters() { return &params_; }

  // Running statistics: stat = (1 - momentum) * stat + momentum * batch's,
  // the variance unbiased over `rows`, per normalised layer.
  // REQUIRES: means and biased variances of every layer with batch
  // normalisation, as Backprop::Compute keeps them.
  void UpdateRunningStatistics(const std::vector<RowVectorT<T>>& means,
                               const std::vector<RowVectorT<T>>& variances, Eigen::Index rows,
                               double momentum);

  // The served form: the same outputs at every layer with no normalisation
  // left (architecture.batch_norm unset); each one before an activation is
  // folded into the layer's weights and biases, each one after it becomes
  // the layer's out_scale and out_shift. A network without normalisation
  // comes back as it is. (Tied weights with a normalisation before the
  // activation, which could not fold, fail ValidateArchitecture.)
  StackedAutoencoderT Folded() const;

  // The same network with parameters converted to scalar U.
  template <typename U>
  StackedAutoencoderT<U> Cast() const;

 private:
  // Layer l's normalisation with its running statistics as x * scale + shift.
  void NormalisationAffine(int l, RowVectorT<T>* scale, RowVectorT<T>* shift) const;

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
  const auto cast = [](const auto& from, auto* to) {
    for (const auto& t : from) to->push_back(t.template cast<U>());
  };
  cast(params_.weights, &p.weights);
  cast(params_.biases, &p.biases);
  cast(params_.bn_gamma, &p.bn_gamma);
  cast(params_.bn_beta, &p.bn_beta);
  cast(params_.bn_mean, &p.bn_mean);
  cast(params_.bn_var, &p.bn_var);
  cast(params_.out_scale, &p.out_scale);
  cast(params_.out_shift, &p.out_shift);
  return StackedAutoencoderT<U>(arch_, std::move(p));
}

}  // namespace strata

#endif  // STRATA_CORE_NN_STACKED_AUTOENCODER_H_
