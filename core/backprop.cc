#include "core/backprop.h"

#include <algorithm>
#include <cmath>

#include "core/activation.h"
#include "core/gemm.h"

namespace strata {
namespace {

// Layers that dropout applies to: hidden layers other than the code layer.
template <typename T>
bool HasDropout(const StackedAutoencoderT<T>& net, int l) {
  return l != net.depth() - 1 && l != net.num_layers() - 1;
}

template <typename T>
bool HasSparsity(const StackedAutoencoderT<T>& net, int l, const ObjectiveOptions& options) {
  return options.sparsity_weight > 0 && l < net.depth() && net.layer_activation(l) == v1::SIGMOID;
}

}  // namespace

template <typename T>
double DataLoss(v1::Loss loss, const MatrixT<T>& output, const MatrixT<T>& target) {
  const double n = static_cast<double>(output.size());
  if (loss == v1::BCE) {
    const auto y = output.array();
    const auto t = target.array();
    const auto log_y = y.log().max(T(-100));
    const auto log_1my = (T(1) - y).log().max(T(-100));
    return -static_cast<double>((t * log_y + (T(1) - t) * log_1my).sum()) / n;
  }
  return static_cast<double>((output - target).squaredNorm()) / n;
}

template <typename T>
LossBreakdown Backprop<T>::Compute(const StackedAutoencoderT<T>& net, const MatrixT<T>& input,
                                   const MatrixT<T>& target, const ObjectiveOptions& options,
                                   std::mt19937_64* rng, ParametersT<T>* grads) {
  const int n = net.num_layers();
  const Eigen::Index rows = input.rows();
  outputs_.resize(n);
  masks_.resize(n);
  dropped_.resize(n);
  if (grads->weights.size() != static_cast<size_t>(n)) {
    grads->ResizeLikeAndZero(net.parameters());
  }
  const bool use_dropout = options.dropout > 0;
  const T keep_scale = use_dropout ? T(1.0 / (1.0 - options.dropout)) : T(1);
  std::bernoulli_distribution keep(1.0 - options.dropout);

  // Forward, keeping every layer's output.
  LossBreakdown result;
  for (int l = 0; l < n; ++l) {
    const MatrixT<T>& in =
        l == 0 ? input : (masks_[l - 1].size() ? dropped_[l - 1] : outputs_[l - 1]);
    net.LayerForward(l, in, &outputs_[l]);
    if (HasSparsity(net, l, options)) {
      const double rho = options.sparsity_target;
      const RowVectorT<T> rho_hat = outputs_[l].colwise().mean();
      for (Eigen::Index j = 0; j < rho_hat.cols(); ++j) {
        const double r = std::clamp(static_cast<double>(rho_hat(j)), 1e-12, 1 - 1e-12);
        result.sparsity_penalty +=
            options.sparsity_weight *
            (rho * std::log(rho / r) + (1 - rho) * std::log((1 - rho) / (1 - r)));
      }
    }
    if (use_dropout && HasDropout(net, l)) {
      MatrixT<T>& mask = masks_[l];
      mask.resize(rows, net.layer_out(l));
      for (Eigen::Index i = 0; i < mask.size(); ++i) {
        mask.data()[i] = keep(*rng) ? keep_scale : T(0);
      }
      dropped_[l] = outputs_[l].cwiseProduct(mask);
    } else {
      masks_[l].resize(0, 0);
    }
  }
  const MatrixT<T>& output = outputs_[n - 1];
  result.data_loss = DataLoss(options.loss, output, target);

  // Backward. grad_ holds d(objective)/d(layer output, after dropout).
  const T inv_n = T(1.0 / static_cast<double>(output.size()));
  const v1::Activation out_act = net.layer_activation(n - 1);
  const bool fused_bce = options.loss == v1::BCE && out_act == v1::SIGMOID;
  if (fused_bce) {
    // d(BCE)/dz for a sigmoid output is (y - t) / N: exact and stable.
    delta_ = (output - target) * inv_n;
  } else if (options.loss == v1::BCE) {
    const auto y = output.array().max(T(1e-12)).min(T(1 - 1e-7));
    grad_ = ((y - target.array()) / (y * (T(1) - y)) * inv_n).matrix();
  } else {
    grad_ = (output - target) * (T(2) * inv_n);
  }
  for (int l = n - 1; l >= 0; --l) {
    if (!(fused_bce && l == n - 1)) {
      if (masks_[l].size()) grad_.array() *= masks_[l].array();
      if (HasSparsity(net, l, options)) {
        const double rho = options.sparsity_target;
        const RowVectorT<T> rho_hat = outputs_[l].colwise().mean();
        RowVectorT<T> d(rho_hat.cols());
        for (Eigen::Index j = 0; j < d.cols(); ++j) {
          const double r = std::clamp(static_cast<double>(rho_hat(j)), 1e-12, 1 - 1e-12);
          d(j) = static_cast<T>(options.sparsity_weight * (-rho / r + (1 - rho) / (1 - r)) /
                                static_cast<double>(rows));
        }
        grad_.rowwise() += d;
      }
      MultiplyByDerivative(net.layer_activation(l), net.leaky_slope(), outputs_[l], &grad_);
      delta_.swap(grad_);
    }
    const MatrixT<T>& in =
        l == 0 ? input : (masks_[l - 1].size() ? dropped_[l - 1] : outputs_[l - 1]);
    grads->biases[l].noalias() = delta_.colwise().sum();
    // Weight gradients split across their input rows, the products that
    // carry the gradient down across their outputs (see core/gemm.h).
    if (net.is_tied(l)) {
      // Decoder layers run backward first: they initialise the shared gradient.
      SplitProduct(delta_.transpose(), in, Split::kCols, &grads->weights[net.mirror_of(l)]);
    } else {
      const bool shared = l < net.depth() && net.architecture().tied_weights();
      SplitProduct(in.transpose(), delta_, Split::kRows, &grads->weights[l], shared);
    }
    if (l > 0) {
      const Split split = SplitFor(rows, net.layer_in(l));
      if (net.is_tied(l)) {
        SplitProduct(delta_, net.parameters().weights[net.mirror_of(l)], split, &grad_);
      } else {
        SplitProduct(delta_, net.parameters().weights[l].transpose(), split, &grad_);
      }
    }
  }
  return result;
}

template double DataLoss<float>(v1::Loss, const MatrixT<float>&, const MatrixT<float>&);
template double DataLoss<double>(v1::Loss, const MatrixT<double>&, const MatrixT<double>&);
template class Backprop<float>;
template class Backprop<double>;

}  // namespace strata
