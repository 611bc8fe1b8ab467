#include "core/nn/backprop.h"

#include <algorithm>
#include <cmath>

#include "core/nn/activation.h"
#include "core/nn/gemm.h"

namespace strata {
namespace {

template <typename T>
bool HasSparsity(const StackedAutoencoderT<T>& net, int l, const ObjectiveOptions& options) {
  return options.sparsity_weight > 0 && l < net.depth() && net.layer_activation(l) == v1::SIGMOID;
}

// Adds the KL sparsity penalty of one layer's activations to *penalty.
template <typename T>
void AddSparsityPenalty(const MatrixT<T>& activations, const ObjectiveOptions& options,
                        double* penalty) {
  const double rho = options.sparsity_target;
  const RowVectorT<T> rho_hat = activations.colwise().mean();
  for (Eigen::Index j = 0; j < rho_hat.cols(); ++j) {
    const double r = std::clamp(static_cast<double>(rho_hat(j)), 1e-12, 1 - 1e-12);
    *penalty += options.sparsity_weight *
                (rho * std::log(rho / r) + (1 - rho) * std::log((1 - rho) / (1 - r)));
  }
}

// d(sparsity penalty)/d(activation), the same for every row of the batch.
template <typename T>
RowVectorT<T> SparsityGradient(const MatrixT<T>& activations, const ObjectiveOptions& options,
                               Eigen::Index rows) {
  const double rho = options.sparsity_target;
  const RowVectorT<T> rho_hat = activations.colwise().mean();
  RowVectorT<T> d(rho_hat.cols());
  for (Eigen::Index j = 0; j < d.cols(); ++j) {
    const double r = std::clamp(static_cast<double>(rho_hat(j)), 1e-12, 1 - 1e-12);
    d(j) = static_cast<T>(options.sparsity_weight * (-rho / r + (1 - rho) / (1 - r)) /
                          static_cast<double>(rows));
  }
  return d;
}

// The head alone on a frozen encoder: the encoder runs as it serves.
template <typename T>
LossBreakdown HeadOnlyLoss(const StackedAutoencoderT<T>& net, const MatrixT<T>& input,
                           const Supervision<T>& supervision) {
  LossBreakdown result;
  result.reconstruction_weight = 0;
  result.classification_loss =
      CrossEntropy(*supervision.head, net.Encode(input, net.depth()), supervision.classes,
                   supervision.grads, static_cast<MatrixT<T>*>(nullptr));
  return result;
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
void Backprop<T>::NormaliseForward(const StackedAutoencoderT<T>& net, int l, MatrixT<T>* x) {
  const T n = static_cast<T>(x->rows());
  means_[l] = x->colwise().sum() / n;
  x->rowwise() -= means_[l];
  variances_[l] = x->array().square().colwise().sum() / n;
  inv_std_[l] = (variances_[l].array() + static_cast<T>(kBatchNormEpsilon)).rsqrt();
  x->array().rowwise() *= inv_std_[l].array();
  normalised_[l] = *x;
  x->array().rowwise() *= net.parameters().bn_gamma[l].array();
  x->rowwise() += net.parameters().bn_beta[l];
}

template <typename T>
void Backprop<T>::NormaliseBackward(const StackedAutoencoderT<T>& net, int l,
                                    ParametersT<T>* grads) {
  // g: d/dy of y = gamma * xhat + beta. Then, per column over N rows,
  // dx = gamma * inv_std / N * (N g - sum g - xhat * sum(g xhat)).
  const MatrixT<T>& xhat = normalised_[l];
  grads->bn_beta[l] = grad_.colwise().sum();
  grads->bn_gamma[l] = grad_.cwiseProduct(xhat).colwise().sum();
  const T n = static_cast<T>(grad_.rows());
  grad_ *= n;
  grad_.rowwise() -= grads->bn_beta[l];
  grad_ -= xhat * grads->bn_gamma[l].asDiagonal();
  const RowVectorT<T> factor = net.parameters().bn_gamma[l].cwiseProduct(inv_std_[l]) / n;
  grad_.array().rowwise() *= factor.array();
}

template <typename T>
const MatrixT<T>& Backprop<T>::Output(int l) const {
  if (skipped_[l].size()) return skipped_[l];
  if (masks_[l].size()) return dropped_[l];
  if (bn_out_[l].size()) return bn_out_[l];
  return outputs_[l];
}

// What one Compute call runs and how, fixed before the forward pass.
template <typename T>
struct Backprop<T>::Pass {
  const StackedAutoencoderT<T>& net;
  const ObjectiveOptions& options;
  const MatrixT<T>& input;
  Eigen::Index rows;    // The batch's rows.
  double recon_weight;  // The reconstruction term's weight: 1 without a head.
  // The layers [0, end) run: all, or the encoder alone when the
  // reconstruction term is off.
  int end;
  // BCE on a sigmoid output: the output layer's gradient is (y - t) / N.
  bool fused_bce;
  v1::BatchNorm placement;
  bool use_dropout;
  T keep_scale;  // 1 / (1 - p): inverted dropout.
  std::bernoulli_distribution keep;
  std::mt19937_64* rng;

  // What layer l takes: the input, or what layer l - 1 passes on.
  const MatrixT<T>& In(const Backprop& bp, int l) const {
    return l == 0 ? input : bp.Output(l - 1);
  }
};

template <typename T>
void Backprop<T>::ResizeBuffers(const StackedAutoencoderT<T>& net, ParametersT<T>* grads) {
  const int n = net.num_layers();
  for (auto* v : {&outputs_, &masks_, &dropped_, &bn_out_, &skipped_, &normalised_}) v->resize(n);
  for (auto* v : {&means_, &variances_, &inv_std_}) v->resize(n);
  if (grads->weights.size() != static_cast<size_t>(n) ||
      grads->bn_gamma.size() != static_cast<size_t>(n)) {
    grads->ResizeLikeAndZero(net.parameters());
  }
}

template <typename T>
void Backprop<T>::NormaliseOutput(const Pass& pass, int l) {
  const StackedAutoencoderT<T>& net = pass.net;
  if (net.has_batch_norm(l) && pass.placement == v1::AFTER_ACTIVATION) {
    bn_out_[l] = outputs_[l];
    NormaliseForward(net, l, &bn_out_[l]);
  } else if (net.parameters().out_scale[l].size() > 0) {
    // A folded normalisation (a published network being fine-tuned):
    // fixed, as in evaluation mode.
    bn_out_[l] = outputs_[l];
    bn_out_[l].array().rowwise() *= net.parameters().out_scale[l].array();
    bn_out_[l].rowwise() += net.parameters().out_shift[l];
  } else {
    bn_out_[l].resize(0, 0);
  }
}

template <typename T>
void Backprop<T>::DropOut(Pass* pass, int l) {
  const StackedAutoencoderT<T>& net = pass->net;
  if (!pass->use_dropout || !net.is_hidden(l)) {
    masks_[l].resize(0, 0);
    return;
  }
  MatrixT<T>& mask = masks_[l];
  mask.resize(pass->rows, net.layer_out(l));
  for (Eigen::Index i = 0; i < mask.size(); ++i) {
    mask.data()[i] = pass->keep(*pass->rng) ? pass->keep_scale : T(0);
  }
  dropped_[l] = (bn_out_[l].size() ? bn_out_[l] : outputs_[l]).cwiseProduct(mask);
}

template <typename T>
void Backprop<T>::ForwardLayer(Pass* pass, int l, double* sparsity_penalty) {
  const StackedAutoencoderT<T>& net = pass->net;
  const MatrixT<T>& in = pass->In(*this, l);
  net.LinearForward(l, in, &outputs_[l]);
  if (net.has_batch_norm(l) && pass->placement == v1::BEFORE_ACTIVATION) {
    NormaliseForward(net, l, &outputs_[l]);
  }
  ApplyActivation(net.layer_activation(l), net.leaky_slope(), &outputs_[l]);
  if (HasSparsity(net, l, pass->options)) {
    AddSparsityPenalty(outputs_[l], pass->options, sparsity_penalty);
  }
  NormaliseOutput(*pass, l);
  DropOut(pass, l);
  skipped_[l].resize(0, 0);
  if (net.has_skip(l)) skipped_[l] = Output(l) + in;
}

template <typename T>
void Backprop<T>::SeedOutputGradient(const Pass& pass, const MatrixT<T>& target) {
  const MatrixT<T>& output = Output(pass.net.num_layers() - 1);
  const T scale = T(pass.recon_weight / static_cast<double>(output.size()));
  if (pass.fused_bce) {
    // d(BCE)/dz for a sigmoid output is (y - t) / N: exact and stable.
    delta_ = (output - target) * scale;
  } else if (pass.options.loss == v1::BCE) {
    const auto y = output.array().max(T(1e-12)).min(T(1 - 1e-7));
    grad_ = ((y - target.array()) / (y * (T(1) - y)) * scale).matrix();
  } else {
    grad_ = (output - target) * (T(2) * scale);
  }
}

template <typename T>
void Backprop<T>::BackwardThroughActivation(const Pass& pass, int l, ParametersT<T>* grads) {
  const StackedAutoencoderT<T>& net = pass.net;
  if (masks_[l].size()) grad_.array() *= masks_[l].array();
  if (net.has_batch_norm(l) && pass.placement == v1::AFTER_ACTIVATION) {
    NormaliseBackward(net, l, grads);
  } else if (bn_out_[l].size()) {
    grad_.array().rowwise() *= net.parameters().out_scale[l].array();
  }
  if (HasSparsity(net, l, pass.options)) {
    grad_.rowwise() += SparsityGradient(outputs_[l], pass.options, pass.rows);
  }
  MultiplyByDerivative(net.layer_activation(l), net.leaky_slope(), outputs_[l], &grad_);
  if (net.has_batch_norm(l) && pass.placement == v1::BEFORE_ACTIVATION) {
    NormaliseBackward(net, l, grads);
  }
  delta_.swap(grad_);
}

template <typename T>
void Backprop<T>::LinearBackward(const Pass& pass, int l, ParametersT<T>* grads) {
  const StackedAutoencoderT<T>& net = pass.net;
  const MatrixT<T>& in = pass.In(*this, l);
  grads->biases[l].noalias() = delta_.colwise().sum();
  // Weight gradients split across their input rows, the products that
  // carry the gradient down across their outputs (see core/nn/gemm.h).
  if (net.is_tied(l)) {
    // Decoder layers run backward first: they initialise the shared gradient.
    SplitProduct(delta_.transpose(), in, Split::kCols, &grads->weights[net.mirror_of(l)]);
  } else {
    // Without the decoder (end < n) nothing initialised it: this layer does.
    const bool shared =
        pass.end == net.num_layers() && l < net.depth() && net.architecture().tied_weights();
    SplitProduct(in.transpose(), delta_, Split::kRows, &grads->weights[l], shared);
  }
  if (l == 0) return;
  const Split split = SplitFor(pass.rows, net.layer_in(l));
  if (net.is_tied(l)) {
    SplitProduct(delta_, net.parameters().weights[net.mirror_of(l)], split, &grad_);
  } else {
    SplitProduct(delta_, net.parameters().weights[l].transpose(), split, &grad_);
  }
}

template <typename T>
void Backprop<T>::BackwardLayer(const Pass& pass, int l, ParametersT<T>* grads) {
  const bool skip = pass.net.has_skip(l);
  // The skip carries the gradient to the layer's input unchanged.
  if (skip) skip_grad_ = grad_;
  if (!(pass.fused_bce && l == pass.net.num_layers() - 1)) {
    BackwardThroughActivation(pass, l, grads);
  }
  LinearBackward(pass, l, grads);
  if (l > 0 && skip) grad_ += skip_grad_;
}

template <typename T>
LossBreakdown Backprop<T>::Compute(const StackedAutoencoderT<T>& net, const MatrixT<T>& input,
                                   const MatrixT<T>& target, const ObjectiveOptions& options,
                                   std::mt19937_64* rng, ParametersT<T>* grads,
                                   const Supervision<T>* supervision) {
  if (supervision != nullptr && options.frozen_encoder) {
    return HeadOnlyLoss(net, input, *supervision);
  }
  const int n = net.num_layers();
  const bool supervised = supervision != nullptr;
  const double recon_weight = supervised ? options.reconstruction_weight : 1.0;
  const int end = supervised && recon_weight == 0 ? net.depth() : n;
  const bool fused_bce =
      end == n && options.loss == v1::BCE && net.layer_activation(n - 1) == v1::SIGMOID;
  const bool use_dropout = options.dropout > 0;
  Pass pass{net,
            options,
            input,
            input.rows(),
            recon_weight,
            end,
            fused_bce,
            net.architecture().batch_norm(),
            use_dropout,
            use_dropout ? T(1.0 / (1.0 - options.dropout)) : T(1),
            std::bernoulli_distribution(1.0 - options.dropout),
            rng};
  ResizeBuffers(net, grads);

  // Forward, keeping every layer's activations (outputs_), and where a
  // layer has them, its normalised output, dropped-out output and output
  // with the skip added; Output(l) is what the next layer takes.
  LossBreakdown result;
  result.reconstruction_weight = recon_weight;
  for (int l = 0; l < end; ++l) ForwardLayer(&pass, l, &result.sparsity_penalty);

  // Backward. grad_ holds d(objective)/d(Output(l)).
  if (end == n) {
    result.data_loss = DataLoss(options.loss, Output(n - 1), target);
    SeedOutputGradient(pass, target);
  } else {
    grad_.setZero(pass.rows, net.code_dim());
  }
  for (int l = end - 1; l >= 0; --l) {
    if (supervised && l == net.depth() - 1) {
      result.classification_loss = CrossEntropy(*supervision->head, Output(l), supervision->classes,
                                                supervision->grads, &head_grad_);
      grad_ += head_grad_;
    }
    BackwardLayer(pass, l, grads);
  }
  return result;
}

template double DataLoss<float>(v1::Loss, const MatrixT<float>&, const MatrixT<float>&);
template double DataLoss<double>(v1::Loss, const MatrixT<double>&, const MatrixT<double>&);
template class Backprop<float>;
template class Backprop<double>;

}  // namespace strata
