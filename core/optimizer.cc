#include "core/optimizer.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace strata {

absl::StatusOr<std::unique_ptr<Optimizer>> Optimizer::Create(const v1::OptimizerConfig& config,
                                                             float weight_decay) {
  if (!(config.learning_rate() > 0)) {
    return absl::InvalidArgumentError("optimizer.learning_rate must be positive");
  }
  if (config.kind() != v1::OptimizerConfig::ADAM && config.kind() != v1::OptimizerConfig::SGD &&
      config.kind() != v1::OptimizerConfig::RMSPROP) {
    return absl::InvalidArgumentError(absl::StrCat("unknown optimizer kind ", config.kind()));
  }
  return std::unique_ptr<Optimizer>(new Optimizer(config, weight_decay));
}

void Optimizer::Step(const std::vector<ParameterBlock<float>>& params,
                     const std::vector<ParameterBlock<float>>& grads) {
  if (m_.empty()) {
    for (const auto& p : params) {
      m_.push_back(Eigen::ArrayXf::Zero(p.size));
      v_.push_back(Eigen::ArrayXf::Zero(config_.kind() == v1::OptimizerConfig::SGD ? 0 : p.size));
    }
  }
  ++steps_;
  const float lr = learning_rate_;
  for (size_t i = 0; i < params.size(); ++i) {
    Eigen::Map<Eigen::ArrayXf> p(params[i].data, params[i].size);
    Eigen::Map<Eigen::ArrayXf> g(grads[i].data, grads[i].size);
    if (weight_decay_ > 0 && params[i].is_weight) g += weight_decay_ * p;
    Eigen::ArrayXf& m = m_[i];
    Eigen::ArrayXf& v = v_[i];
    switch (config_.kind()) {
      case v1::OptimizerConfig::ADAM: {
        const float b1 = config_.beta1(), b2 = config_.beta2();
        m = b1 * m + (1 - b1) * g;
        v = b2 * v + (1 - b2) * g.square();
        const float c1 = 1.0f - std::pow(b1, static_cast<float>(steps_));
        const float c2 = 1.0f - std::pow(b2, static_cast<float>(steps_));
        const float step = lr / c1;
        const float eps = config_.epsilon();
        const float inv_sqrt_c2 = 1.0f / std::sqrt(c2);
        p -= step * m / (v.sqrt() * inv_sqrt_c2 + eps);
        break;
      }
      case v1::OptimizerConfig::SGD: {
        const float mu = config_.momentum();
        if (mu > 0) {
          m = steps_ == 1 ? Eigen::ArrayXf(g) : Eigen::ArrayXf(mu * m + g);
          if (config_.nesterov()) {
            p -= lr * (g + mu * m);
          } else {
            p -= lr * m;
          }
        } else {
          p -= lr * g;
        }
        break;
      }
      case v1::OptimizerConfig::RMSPROP: {
        const float rho = config_.rho();
        v = rho * v + (1 - rho) * g.square();
        p -= lr * g / (v.sqrt() + config_.epsilon());
        break;
      }
      default:
        break;
    }
  }
}

double ClipGradientNorm(double max_norm, const std::vector<ParameterBlock<float>>& grads) {
  double sq = 0;
  for (const auto& g : grads) {
    sq += static_cast<double>(Eigen::Map<Eigen::ArrayXf>(g.data, g.size).square().sum());
  }
  const double norm = std::sqrt(sq);
  if (max_norm > 0 && norm > max_norm) {
    const float scale = static_cast<float>(max_norm / (norm + 1e-6));
    for (const auto& g : grads) Eigen::Map<Eigen::ArrayXf>(g.data, g.size) *= scale;
  }
  return norm;
}

}  // namespace strata
