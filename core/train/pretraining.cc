#include "core/train/pretraining.h"

#include <deque>
#include <utility>

namespace strata {
namespace train_internal {
namespace {

// Copies the trained shallow network of layer m into layer m of `deep` and
// its mirror.
void CopyIntoDeep(const StackedAutoencoder& shallow, int m, StackedAutoencoder* deep) {
  const int mirror = deep->num_layers() - 1 - m;
  Parameters* p = deep->mutable_parameters();
  p->weights[m] = shallow.parameters().weights[0];
  p->weights[mirror] = shallow.parameters().weights[1];
  p->biases[m] = shallow.parameters().biases[0];
  p->biases[mirror] = shallow.parameters().biases[1];
}

}  // namespace

absl::StatusOr<StackedAutoencoder> ShallowFor(const StackedAutoencoder& deep, int m) {
  const v1::Architecture& a = deep.architecture();
  v1::Architecture arch;
  arch.set_input_dim(deep.layer_in(m));
  arch.add_encoder_widths(deep.layer_out(m));
  arch.add_encoder_activations(a.encoder_activations(m));
  arch.set_output_activation(m == 0 ? a.output_activation() : a.encoder_activations(m - 1));
  arch.set_tied_weights(a.tied_weights());
  arch.set_leaky_relu_slope(a.leaky_relu_slope());
  const int mirror = deep.num_layers() - 1 - m;
  Parameters p;
  p.weights = {deep.parameters().weights[m], deep.parameters().weights[mirror]};
  p.biases = {deep.parameters().biases[m], deep.parameters().biases[mirror]};
  return StackedAutoencoder::FromParameters(arch, std::move(p));
}

absl::Status PretrainLayerWise(const v1::TrainConfig& config, const ObjectiveOptions& objective,
                               const NetworkRows& rows, PhaseRunner* runner,
                               StackedAutoencoder* net) {
  const int depth = net->depth();
  const bool mapped = rows.train_rows == nullptr;
  RowSet layer_train = rows.train, layer_val = rows.val;
  Matrix codes_train, codes_val;          // in memory: the layer's input
  std::deque<StackedAutoencoder> frozen;  // mapped: the layers below
  for (int m = 0; m < depth; ++m) {
    absl::StatusOr<StackedAutoencoder> shallow = ShallowFor(*net, m);
    if (!shallow.ok()) return shallow.status();
    ObjectiveOptions layer_objective = objective;
    // Inner layers reconstruct hidden features, which BCE does not fit.
    if (m > 0) layer_objective.loss = v1::MSE;
    if (absl::Status s = runner->Run(&*shallow, layer_train, layer_val, layer_objective,
                                     config.pretrain_epochs(), v1::EpochRecord::PRETRAIN, m + 1,
                                     nullptr, rows.positions);
        !s.ok()) {
      return s;
    }
    CopyIntoDeep(*shallow, m, net);
    if (m + 1 < depth && mapped) {
      frozen.push_back(*std::move(shallow));
      layer_train = layer_train.Through(&frozen.back());
      layer_val = layer_val.Through(&frozen.back());
    } else if (m + 1 < depth) {
      Matrix next = shallow->Encode(m == 0 ? *rows.train_rows : codes_train, 1);
      codes_train = std::move(next);
      layer_train = RowSet(codes_train);
      if (layer_val.rows() > 0) {
        next = shallow->Encode(m == 0 ? *rows.val_rows : codes_val, 1);
        codes_val = std::move(next);
        layer_val = RowSet(codes_val);
      }
    }
  }
  return absl::OkStatus();
}

absl::Status FitUnsupervised(const v1::TrainConfig& config, const ObjectiveOptions& objective,
                             const NetworkRows& rows, PhaseRunner* runner,
                             StackedAutoencoder* net) {
  if (config.pretrain_epochs() > 0) {
    if (absl::Status s = PretrainLayerWise(config, objective, rows, runner, net); !s.ok()) {
      return s;
    }
  }
  if (config.finetune_epochs() > 0) {
    return runner->Run(net, rows.train, rows.val, objective, config.finetune_epochs(),
                       v1::EpochRecord::FINETUNE, 0, nullptr, rows.positions);
  }
  return absl::OkStatus();
}

}  // namespace train_internal
}  // namespace strata
