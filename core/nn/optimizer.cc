#include "core/nn/optimizer.h"

#include <algorithm>
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

namespace {

// Updates run over chunks small enough that the passes over a chunk's
// parameters, gradients and moments stay in cache, spread over the OpenMP
// threads of the caller (the core's parallel loops follow Eigen's setting).
constexpr Eigen::Index kChunk = 8192;
#ifdef EIGEN_DONT_PARALLELIZE
constexpr bool kParallel = false;
#else
constexpr bool kParallel = true;
#endif

}  // namespace

void Optimizer::Step(const std::vector<ParameterBlock<float>>& params,
                     const std::vector<ParameterBlock<float>>& grads) {
  if (m_.empty()) {
    Eigen::Index total = 0;
    for (size_t i = 0; i < params.size(); ++i) {
      m_.push_back(Eigen::ArrayXf::Zero(params[i].size));
      v_.push_back(Eigen::ArrayXf::Zero(
          config_.kind() == v1::OptimizerConfig::SGD ? 0 : params[i].size));
      for (Eigen::Index at = 0; at < params[i].size; at += kChunk) {
        chunks_.push_back({static_cast<int>(i), at, std::min(kChunk, params[i].size - at)});
      }
      total += params[i].size;
    }
    parallel_ = kParallel && total >= 16 * kChunk;
  }
  ++steps_;
  Coefficients k;
  k.lr = learning_rate_;
  if (config_.kind() == v1::OptimizerConfig::ADAM) {
    const float c1 = 1.0f - std::pow(config_.beta1(), static_cast<float>(steps_));
    const float c2 = 1.0f - std::pow(config_.beta2(), static_cast<float>(steps_));
    k.step = k.lr / c1;
    k.inv_sqrt_c2 = 1.0f / std::sqrt(c2);
  }
  const int n = static_cast<int>(chunks_.size());
#pragma omp parallel for schedule(static) if (parallel_)
  for (int c = 0; c < n; ++c) {
    const Chunk& chunk = chunks_[static_cast<size_t>(c)];
    const ParameterBlock<float>& p = params[static_cast<size_t>(chunk.block)];
    UpdateChunk(k, p.is_weight, p.data + chunk.offset,
                grads[static_cast<size_t>(chunk.block)].data + chunk.offset, chunk.block,
                chunk.offset, chunk.size);
  }
}

void Optimizer::UpdateChunk(const Coefficients& k, bool is_weight, float* param_data,
                            float* grad_data, int block, Eigen::Index offset,
                            Eigen::Index size) {
  Eigen::Map<Eigen::ArrayXf> p(param_data, size);
  Eigen::Map<Eigen::ArrayXf> g(grad_data, size);
  if (weight_decay_ > 0 && is_weight) g += weight_decay_ * p;
  auto m = m_[static_cast<size_t>(block)].segment(offset, size);
  switch (config_.kind()) {
    case v1::OptimizerConfig::ADAM: {
      auto v = v_[static_cast<size_t>(block)].segment(offset, size);
      const float b1 = config_.beta1(), b2 = config_.beta2();
      m = b1 * m + (1 - b1) * g;
      v = b2 * v + (1 - b2) * g.square();
      p -= k.step * m / (v.sqrt() * k.inv_sqrt_c2 + config_.epsilon());
      break;
    }
    case v1::OptimizerConfig::SGD: {
      const float mu = config_.momentum();
      if (mu > 0) {
        if (steps_ == 1) {
          m = g;
        } else {
          m = mu * m + g;
        }
        if (config_.nesterov()) {
          p -= k.lr * (g + mu * m);
        } else {
          p -= k.lr * m;
        }
      } else {
        p -= k.lr * g;
      }
      break;
    }
    case v1::OptimizerConfig::RMSPROP: {
      auto v = v_[static_cast<size_t>(block)].segment(offset, size);
      const float rho = config_.rho();
      v = rho * v + (1 - rho) * g.square();
      p -= k.lr * g / (v.sqrt() + config_.epsilon());
      break;
    }
    default:
      break;
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
