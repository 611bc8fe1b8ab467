// First-order optimizers with PyTorch's update rules: Adam, SGD with
// (Nesterov) momentum, RMSprop; plus L2 weight decay added to the gradient
// and global gradient-norm clipping.
//
//   auto opt = Optimizer::Create(config.optimizer(), wd);
//   ClipGradientNorm(max_norm, grads.Blocks());
//   opt->Step(params.Blocks(), grads.Blocks());
//
// Not thread-safe; one per training phase. The blocks passed to Step must
// have the same sizes, in the same order, on every call. Step spreads large
// updates over the caller's OpenMP threads.
#ifndef STRATA_CORE_NN_OPTIMIZER_H_
#define STRATA_CORE_NN_OPTIMIZER_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "core/nn/stacked_autoencoder.h"
#include "strata/v1/train_config.pb.h"

namespace strata {

class Optimizer {
 public:
  // REQUIRES: `config` resolved (ResolveTrainConfig).
  static absl::StatusOr<std::unique_ptr<Optimizer>> Create(const v1::OptimizerConfig& config,
                                                           float weight_decay);

  // One update. `grads` is modified (weight decay is added to it).
  void Step(const std::vector<ParameterBlock<float>>& params,
            const std::vector<ParameterBlock<float>>& grads);

  float learning_rate() const { return learning_rate_; }
  void set_learning_rate(float lr) { learning_rate_ = lr; }

 private:
  Optimizer(const v1::OptimizerConfig& config, float weight_decay)
      : config_(config), weight_decay_(weight_decay), learning_rate_(config.learning_rate()) {}

  // Per-step factors shared by every chunk.
  struct Coefficients {
    float lr = 0;
    float step = 0;         // Adam: lr / (1 - beta1^t)
    float inv_sqrt_c2 = 0;  // Adam: 1 / sqrt(1 - beta2^t)
  };
  // A slice of one parameter block, the unit of (parallel) work of Step.
  struct Chunk {
    int block;
    Eigen::Index offset;
    Eigen::Index size;
  };
  void UpdateChunk(const Coefficients& k, bool is_weight, float* param_data, float* grad_data,
                   int block, Eigen::Index offset, Eigen::Index size);

  const v1::OptimizerConfig config_;
  const float weight_decay_;
  float learning_rate_;
  int64_t steps_ = 0;
  // Per block: first moment / momentum buffer, second moment.
  std::vector<Eigen::ArrayXf> m_, v_;
  std::vector<Chunk> chunks_;
  bool parallel_ = false;
};

// Scales all gradients down so their global L2 norm is at most max_norm
// (no-op when max_norm <= 0). Returns the norm before clipping.
double ClipGradientNorm(double max_norm, const std::vector<ParameterBlock<float>>& grads);

}  // namespace strata

#endif  // STRATA_CORE_NN_OPTIMIZER_H_
