// The training objective of a stacked autoencoder and its gradient.
//
// objective = loss(output, target)            (MSE or BCE, mean over elements)
//           + sparsity.weight * sum KL(target || mean activation)
// and with a classifier head (supervised fine-tuning),
// objective = cross-entropy(head(code), classes)
//           + reconstruction_weight * loss(output, target) + the sparsity term
// Weight decay is not part of it: the optimizer adds it to the gradient, as
// PyTorch's weight_decay does.
//
//   Backprop<float> bp;
//   LossBreakdown loss = bp.Compute(net, noisy_batch, clean_batch, options, &rng, &grads);
//
// Not thread-safe; one per training loop (it keeps its buffers between calls).
#ifndef STRATA_CORE_NN_BACKPROP_H_
#define STRATA_CORE_NN_BACKPROP_H_

#include <random>
#include <vector>

#include "absl/types/span.h"
#include "core/nn/classifier_head.h"
#include "core/nn/matrix.h"
#include "core/nn/stacked_autoencoder.h"
#include "strata/v1/train_config.pb.h"

namespace strata {

struct ObjectiveOptions {
  // MSE or BCE. BCE expects a sigmoid output layer.
  v1::Loss loss = v1::MSE;
  // KL sparsity on every encoder layer with a sigmoid activation; 0 = off.
  double sparsity_weight = 0;
  double sparsity_target = 0.05;
  // Inverted dropout on hidden layers (not code, not output); 0 = off.
  double dropout = 0;
  // With a head: the weight of the reconstruction loss. At 0 the decoder
  // does not run and gets no gradient.
  double reconstruction_weight = 1;
  // With a head: only the head trains. The encoder runs as it serves (no
  // dropout) and gets no gradient; there is no reconstruction term.
  bool frozen_encoder = false;
};

// The classifier head of supervised fine-tuning, for Backprop::Compute.
template <typename T>
struct Supervision {
  const ClassifierHeadT<T>* head = nullptr;
  absl::Span<const int> classes;     // One per row, each in [0, head->classes()).
  ClassifierHeadT<T>* grads = nullptr;  // d(objective)/d(head); resized as needed.
};

struct LossBreakdown {
  double data_loss = 0;         // The configured loss, mean over elements.
  double sparsity_penalty = 0;  // Already multiplied by its weight.
  double classification_loss = 0;   // Cross-entropy of the head; 0 without one.
  double reconstruction_weight = 1;  // data_loss's weight in the objective.
  double objective() const {
    return reconstruction_weight * data_loss + sparsity_penalty + classification_loss;
  }
};

// The configured loss of `output` against `target`, mean over all elements.
// BCE clamps log terms at -100, as PyTorch does.
template <typename T>
double DataLoss(v1::Loss loss, const MatrixT<T>& output, const MatrixT<T>& target);

template <typename T>
class Backprop {
 public:
  // Forward and backward pass over one batch. Writes d(objective)/d(params)
  // into `grads` (resized as needed) and returns the objective's parts.
  // `rng` draws dropout masks; may be null when options.dropout is 0.
  // With `supervision`, the objective includes the head's cross-entropy on
  // the code layer and its gradient goes to supervision->grads; layers that
  // the options leave out (the decoder at reconstruction_weight 0, every
  // layer with frozen_encoder) get no gradient: their entries in `grads` are
  // left as they were.
  // REQUIRES: input and target have net.input_dim() columns and equal rows.
  // Layers with batch normalisation use the batch's statistics (training
  // mode); the network's running statistics are left as they are.
  LossBreakdown Compute(const StackedAutoencoderT<T>& net, const MatrixT<T>& input,
                        const MatrixT<T>& target, const ObjectiveOptions& options,
                        std::mt19937_64* rng, ParametersT<T>* grads,
                        const Supervision<T>* supervision = nullptr);

  // The last Compute's batch means and biased variances, per layer (empty
  // for a layer without batch normalisation), for
  // StackedAutoencoderT::UpdateRunningStatistics.
  const std::vector<RowVectorT<T>>& batch_means() const { return means_; }
  const std::vector<RowVectorT<T>>& batch_variances() const { return variances_; }

 private:
  // x = gamma * (x - batch mean) / sqrt(batch variance + eps) + beta, keeping
  // what the backward pass needs.
  void NormaliseForward(const StackedAutoencoderT<T>& net, int l, MatrixT<T>* x);
  // grad_ from d/d(normalised output) to d/d(its input); the normalisation's
  // own gradients into grads.
  void NormaliseBackward(const StackedAutoencoderT<T>& net, int l, ParametersT<T>* grads);
  // What layer l passes on: after normalisation, dropout and skip.
  const MatrixT<T>& Output(int l) const;

  // The steps of Compute. A Pass holds what one call runs (defined in the .cc).
  struct Pass;
  void ResizeBuffers(const StackedAutoencoderT<T>& net, ParametersT<T>* grads);
  // Forward through layer l: fills outputs_[l] and the layer's optional
  // normalised, dropped-out and skipped outputs; adds its sparsity penalty.
  void ForwardLayer(Pass* pass, int l, double* sparsity_penalty);
  // bn_out_[l]: the batch-normalised or folded-normalised output, or empty.
  void NormaliseOutput(const Pass& pass, int l);
  // masks_[l] and dropped_[l] on a hidden layer with dropout, else no mask.
  void DropOut(Pass* pass, int l);
  // The reconstruction loss's gradient at the output: into delta_ when it
  // is fused with the sigmoid (fused_bce), else into grad_.
  void SeedOutputGradient(const Pass& pass, const MatrixT<T>& target);
  // Backward through layer l: grad_ (d/d Output(l)) becomes d/d Output(l - 1),
  // and the layer's gradients go to grads.
  void BackwardLayer(const Pass& pass, int l, ParametersT<T>* grads);
  // grad_ through dropout, normalisation, sparsity and the activation, into
  // delta_ (d/d pre-activation).
  void BackwardThroughActivation(const Pass& pass, int l, ParametersT<T>* grads);
  // delta_ into the weight and bias gradients and, below layer 0, into grad_.
  void LinearBackward(const Pass& pass, int l, ParametersT<T>* grads);

  // Per layer: activations (before a normalisation that follows them);
  // normalised output (normalisation after the activation only), dropout
  // masks (scaled by 1/(1-p)) and the dropped-out output, and output with
  // the skip added, each empty when the layer has none of it.
  std::vector<MatrixT<T>> outputs_, bn_out_, masks_, dropped_, skipped_;
  // Per normalised layer: its normalised input, batch mean, biased
  // variance and 1 / sqrt(variance + eps).
  std::vector<MatrixT<T>> normalised_;
  std::vector<RowVectorT<T>> means_, variances_, inv_std_;
  MatrixT<T> grad_, delta_, skip_grad_, head_grad_;
};

}  // namespace strata

#endif  // STRATA_CORE_NN_BACKPROP_H_
