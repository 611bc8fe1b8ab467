#include "core/nn/stacked_autoencoder.h"

#include <cmath>
#include <limits>
#include <utility>
#include <random>

#include "absl/strings/str_cat.h"
#include "core/nn/activation.h"
#include "core/nn/gemm.h"

namespace strata {
namespace {

bool IsKnownActivation(v1::Activation a) {
  return a != v1::ACTIVATION_UNSPECIFIED && v1::Activation_IsValid(a);
}

// Standard deviation of the initial weights of a layer.
double InitStddev(v1::Activation activation, int fan_in, int fan_out) {
  switch (activation) {
    case v1::RELU:
    case v1::LEAKY_RELU:
    case v1::ELU:
      return std::sqrt(2.0 / fan_in);  // He
    case v1::SELU:
      return std::sqrt(1.0 / fan_in);  // LeCun
    default:
      return std::sqrt(2.0 / (fan_in + fan_out));  // Glorot
  }
}

}  // namespace

template <typename T>
std::vector<ParameterBlock<T>> ParametersT<T>::Blocks(int layers) {
  const size_t end = layers < 0 ? weights.size() : static_cast<size_t>(layers);
  std::vector<ParameterBlock<T>> blocks;
  for (size_t l = 0; l < end; ++l) {
    if (weights[l].size() > 0) blocks.push_back({weights[l].data(), weights[l].size(), true});
  }
  for (size_t l = 0; l < end; ++l) blocks.push_back({biases[l].data(), biases[l].size(), false});
  for (auto* v : {&bn_gamma, &bn_beta}) {
    for (size_t l = 0; l < end && l < v->size(); ++l) {
      RowVectorT<T>& t = (*v)[l];
      if (t.size() > 0) blocks.push_back({t.data(), t.size(), false});
    }
  }
  return blocks;
}

template <typename T>
void ParametersT<T>::ResizeLikeAndZero(const ParametersT& other) {
  weights.resize(other.weights.size());
  for (size_t i = 0; i < weights.size(); ++i) {
    weights[i].setZero(other.weights[i].rows(), other.weights[i].cols());
  }
  const auto like = [](const std::vector<RowVectorT<T>>& from, std::vector<RowVectorT<T>>* to) {
    to->resize(from.size());
    for (size_t i = 0; i < from.size(); ++i) (*to)[i].setZero(from[i].cols());
  };
  like(other.biases, &biases);
  like(other.bn_gamma, &bn_gamma);
  like(other.bn_beta, &bn_beta);
  like(other.bn_mean, &bn_mean);
  like(other.bn_var, &bn_var);
  like(other.out_scale, &out_scale);
  like(other.out_shift, &out_shift);
}

int64_t WeightCount(int64_t input_dim, const google::protobuf::RepeatedField<int32_t>& widths,
                    bool tied) {
  // Each term is below 2^50 (widths and input_dim are at most 2^31): the
  // sum saturates long before int64 would overflow, however many layers.
  constexpr int64_t kSaturated = std::numeric_limits<int64_t>::max() / 2;
  int64_t weights = 0, in = input_dim;
  for (const int32_t out : widths) {
    if (weights > kSaturated) return kSaturated;
    weights += in * out * (tied ? 1 : 2);
    in = out;
  }
  return weights;
}

absl::Status ValidateArchitecture(const v1::Architecture& arch) {
  if (arch.input_dim() < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("architecture.input_dim must be at least 1, got ", arch.input_dim()));
  }
  if (arch.encoder_widths_size() < 1) {
    return absl::InvalidArgumentError("architecture.encoder_widths needs at least one layer");
  }
  // The limits a training config is held to as well, so that a model file
  // cannot ask for a network that no config could.
  for (int i = 0; i < arch.encoder_widths_size(); ++i) {
    if (arch.encoder_widths(i) < 1 || arch.encoder_widths(i) > kMaxLayerWidth) {
      return absl::InvalidArgumentError(absl::StrCat("architecture.encoder_widths[", i,
                                                     "] must be in [1, ", kMaxLayerWidth,
                                                     "], got ", arch.encoder_widths(i)));
    }
  }
  if (const int64_t weights =
          WeightCount(arch.input_dim(), arch.encoder_widths(), arch.tied_weights());
      weights > kMaxParameters) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the architecture has ", weights, " weights; the limit is ", kMaxParameters));
  }
  if (arch.encoder_activations_size() != arch.encoder_widths_size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "architecture.encoder_activations has ", arch.encoder_activations_size(),
        " entries; expected one per encoder layer (", arch.encoder_widths_size(), ")"));
  }
  for (int i = 0; i < arch.encoder_activations_size(); ++i) {
    if (!IsKnownActivation(arch.encoder_activations(i))) {
      return absl::InvalidArgumentError(
          absl::StrCat("architecture.encoder_activations[", i, "] is not set or unknown"));
    }
  }
  if (!IsKnownActivation(arch.output_activation())) {
    return absl::InvalidArgumentError("architecture.output_activation is not set or unknown");
  }
  if (!(arch.leaky_relu_slope() >= 0 && arch.leaky_relu_slope() < 1)) {
    return absl::InvalidArgumentError("architecture.leaky_relu_slope must be in [0, 1)");
  }
  if (!v1::BatchNorm_IsValid(arch.batch_norm())) {
    return absl::InvalidArgumentError("architecture.batch_norm is unknown");
  }
  if (arch.batch_norm() == v1::BEFORE_ACTIVATION && arch.tied_weights()) {
    return absl::InvalidArgumentError(
        "architecture.batch_norm BEFORE_ACTIVATION cannot be folded into tied weights");
  }
  return absl::OkStatus();
}

template <typename T>
int StackedAutoencoderT<T>::layer_in(int l) const {
  if (l < depth()) return l == 0 ? input_dim() : arch_.encoder_widths(l - 1);
  return layer_out(mirror_of(l));
}

template <typename T>
int StackedAutoencoderT<T>::layer_out(int l) const {
  if (l < depth()) return arch_.encoder_widths(l);
  return layer_in(mirror_of(l));
}

template <typename T>
v1::Activation StackedAutoencoderT<T>::layer_activation(int l) const {
  if (l < depth()) return arch_.encoder_activations(l);
  if (l == num_layers() - 1) return arch_.output_activation();
  // Decoder layer l produces the width of encoder layer mirror_of(l) - 1 and
  // uses that layer's activation.
  return arch_.encoder_activations(mirror_of(l) - 1);
}

template <typename T>
absl::StatusOr<StackedAutoencoderT<T>> StackedAutoencoderT<T>::Create(const v1::Architecture& arch,
                                                                      uint64_t seed) {
  if (absl::Status s = ValidateArchitecture(arch); !s.ok()) return s;
  StackedAutoencoderT net(arch, {});
  std::mt19937_64 rng(seed);
  const int n = net.num_layers();
  ParametersT<T>& p = net.params_;
  for (auto* v : {&p.biases, &p.bn_gamma, &p.bn_beta, &p.bn_mean, &p.bn_var, &p.out_scale,
                  &p.out_shift}) {
    v->resize(n);
  }
  p.weights.resize(n);
  int skips = 0;
  for (int l = 0; l < n; ++l) skips += net.has_skip(l) ? 1 : 0;
  for (int l = 0; l < n; ++l) {
    const int in = net.layer_in(l), out = net.layer_out(l);
    p.biases[l].setZero(out);
    if (net.has_batch_norm(l)) {
      // A skip's normalised branch starts at 1/L scale, as an unnormalised one (below).
      p.bn_gamma[l].setConstant(out, net.has_skip(l) ? T(1) / static_cast<T>(skips) : T(1));
      p.bn_beta[l].setZero(out);
      p.bn_mean[l].setZero(out);
      p.bn_var[l].setOnes(out);
    }
    if (net.is_tied(l)) continue;
    double stddev = InitStddev(net.layer_activation(l), in, out);
    if (net.has_skip(l) && !net.has_batch_norm(l)) stddev /= skips;
    std::normal_distribution<double> normal(0.0, stddev);
    MatrixT<T>& w = net.params_.weights[l];
    w.resize(in, out);
    for (Eigen::Index i = 0; i < w.size(); ++i) w.data()[i] = static_cast<T>(normal(rng));
  }
  return net;
}

template <typename T>
absl::StatusOr<StackedAutoencoderT<T>> StackedAutoencoderT<T>::FromParameters(
    const v1::Architecture& arch, ParametersT<T> params) {
  if (absl::Status s = ValidateArchitecture(arch); !s.ok()) return s;
  StackedAutoencoderT net(arch, {});
  const int n = net.num_layers();
  if (static_cast<int>(params.weights.size()) != n || static_cast<int>(params.biases.size()) != n) {
    return absl::InvalidArgumentError(absl::StrCat("expected parameters for ", n, " layers, got ",
                                                   params.weights.size(), " weights and ",
                                                   params.biases.size(), " biases"));
  }
  for (int l = 0; l < n; ++l) {
    const int rows = net.is_tied(l) ? 0 : net.layer_in(l);
    const int cols = net.is_tied(l) ? 0 : net.layer_out(l);
    if (params.weights[l].rows() != rows || params.weights[l].cols() != cols) {
      return absl::InvalidArgumentError(
          absl::StrCat("layer ", l, ": weights are ", params.weights[l].rows(), "x",
                       params.weights[l].cols(), ", expected ", rows, "x", cols));
    }
    if (params.biases[l].cols() != net.layer_out(l)) {
      return absl::InvalidArgumentError(absl::StrCat("layer ", l, ": ", params.biases[l].cols(),
                                                     " biases, expected ", net.layer_out(l)));
    }
  }
  // Normalisations and folded scales: left out entirely means none.
  const std::pair<std::vector<RowVectorT<T>>*, const char*> per_layer[] = {
      {&params.bn_gamma, "batch-norm scales"}, {&params.bn_beta, "batch-norm shifts"},
      {&params.bn_mean, "batch-norm running means"},
      {&params.bn_var, "batch-norm running variances"},
      {&params.out_scale, "output scales"}, {&params.out_shift, "output shifts"}};
  for (const auto& [v, name] : per_layer) {
    if (v->empty()) v->resize(n);
    if (static_cast<int>(v->size()) != n) {
      return absl::InvalidArgumentError(
          absl::StrCat("expected ", name, " for ", n, " layers, got ", v->size()));
    }
  }
  for (int l = 0; l < n; ++l) {
    const Eigen::Index out = net.layer_out(l);
    const Eigen::Index bn = net.has_batch_norm(l) ? out : 0;
    for (const auto& [v, name] : absl::MakeConstSpan(per_layer, 4)) {
      if ((*v)[l].cols() != bn) {
        return absl::InvalidArgumentError(absl::StrCat(
            "layer ", l, ": ", (*v)[l].cols(), " ", name, ", expected ", bn));
      }
    }
    if (!(params.bn_var[l].array() >= 0).all()) {
      return absl::InvalidArgumentError(
          absl::StrCat("layer ", l, ": a batch-norm running variance is negative"));
    }
    const Eigen::Index scale = params.out_scale[l].cols(), shift = params.out_shift[l].cols();
    if (scale != shift || (scale != 0 && scale != out)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "layer ", l, ": ", scale, " output scales and ", shift, " output shifts, expected ",
          out, " of each or none"));
    }
  }
  net.params_ = std::move(params);
  return net;
}

template <typename T>
void StackedAutoencoderT<T>::LinearForward(int l, const MatrixT<T>& in, MatrixT<T>* out) const {
  const Split split = SplitFor(in.rows(), layer_out(l));
  if (is_tied(l)) {
    SplitProduct(in, params_.weights[mirror_of(l)].transpose(), split, out);
  } else {
    SplitProduct(in, params_.weights[l], split, out);
  }
  out->rowwise() += params_.biases[l];
}

template <typename T>
void StackedAutoencoderT<T>::NormalisationAffine(int l, RowVectorT<T>* scale,
                                                 RowVectorT<T>* shift) const {
  // y = gamma * (x - mean) / sqrt(var + eps) + beta = x * scale + shift.
  *scale = params_.bn_gamma[l].array() /
           (params_.bn_var[l].array() + static_cast<T>(kBatchNormEpsilon)).sqrt();
  *shift = params_.bn_beta[l] - params_.bn_mean[l].cwiseProduct(*scale);
}

template <typename T>
void StackedAutoencoderT<T>::LayerForward(int l, const MatrixT<T>& in, MatrixT<T>* out) const {
  LinearForward(l, in, out);
  const auto normalise = [&] {
    RowVectorT<T> scale, shift;
    NormalisationAffine(l, &scale, &shift);
    out->array().rowwise() *= scale.array();
    out->rowwise() += shift;
  };
  const bool bn = has_batch_norm(l);
  if (bn && arch_.batch_norm() == v1::BEFORE_ACTIVATION) normalise();
  ApplyActivation(layer_activation(l), leaky_slope(), out);
  if (bn && arch_.batch_norm() == v1::AFTER_ACTIVATION) normalise();
  if (params_.out_scale[l].size() > 0) {
    out->array().rowwise() *= params_.out_scale[l].array();
    out->rowwise() += params_.out_shift[l];
  }
  if (has_skip(l)) *out += in;
}

template <typename T>
void StackedAutoencoderT<T>::UpdateRunningStatistics(const std::vector<RowVectorT<T>>& means,
                                                     const std::vector<RowVectorT<T>>& variances,
                                                     Eigen::Index rows, double momentum) {
  const T m = static_cast<T>(momentum);
  // PyTorch's running variance is unbiased; one row has none to give.
  const T unbias = rows > 1 ? static_cast<T>(static_cast<double>(rows) / (rows - 1)) : T(1);
  for (int l = 0; l < num_layers(); ++l) {
    if (!has_batch_norm(l)) continue;
    params_.bn_mean[l] = (T(1) - m) * params_.bn_mean[l] + m * means[l];
    params_.bn_var[l] = (T(1) - m) * params_.bn_var[l] + (m * unbias) * variances[l];
  }
}

template <typename T>
StackedAutoencoderT<T> StackedAutoencoderT<T>::Folded() const {
  if (arch_.batch_norm() == v1::BATCH_NORM_NONE) return *this;
  v1::Architecture arch = arch_;
  arch.set_batch_norm(v1::BATCH_NORM_NONE);
  ParametersT<T> p = params_;
  for (int l = 0; l < num_layers(); ++l) {
    if (!has_batch_norm(l)) continue;
    RowVectorT<T> scale, shift;
    NormalisationAffine(l, &scale, &shift);
    if (arch_.batch_norm() == v1::BEFORE_ACTIVATION) {
      // (x W + b) * scale + shift = x (W diag(scale)) + (b * scale + shift).
      p.weights[l].array().rowwise() *= scale.array();
      p.biases[l] = p.biases[l].cwiseProduct(scale) + shift;
    } else {
      p.out_scale[l] = scale;
      p.out_shift[l] = shift;
    }
    for (auto* v : {&p.bn_gamma, &p.bn_beta, &p.bn_mean, &p.bn_var}) (*v)[l].resize(0);
  }
  return StackedAutoencoderT(std::move(arch), std::move(p));
}

template <typename T>
MatrixT<T> StackedAutoencoderT<T>::Encode(const MatrixT<T>& x, int layer) const {
  MatrixT<T> a = x, next;
  for (int l = 0; l < layer; ++l) {
    LayerForward(l, a, &next);
    a.swap(next);
  }
  return a;
}

template <typename T>
MatrixT<T> StackedAutoencoderT<T>::Reconstruct(const MatrixT<T>& x, MatrixT<T>* code) const {
  MatrixT<T> a = x, next;
  for (int l = 0; l < num_layers(); ++l) {
    LayerForward(l, a, &next);
    a.swap(next);
    if (code != nullptr && l == depth() - 1) *code = a;
  }
  return a;
}

template struct ParametersT<float>;
template struct ParametersT<double>;
template class StackedAutoencoderT<float>;
template class StackedAutoencoderT<double>;

}  // namespace strata
