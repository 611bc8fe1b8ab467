#include "proto/train_progress.h"

#include <algorithm>

namespace strata {

v1::TrainJobProgress ToTrainJobProgress(const TrainProgress& p) {
  v1::TrainJobProgress progress;
  progress.set_phase(p.record.phase());
  progress.set_layer(p.record.layer());
  progress.set_epoch(p.record.epoch());
  progress.set_train_loss(p.record.train_loss());
  if (p.record.has_validation_loss()) progress.set_validation_loss(p.record.validation_loss());
  if (p.record.has_validation_accuracy()) {
    progress.set_validation_accuracy(p.record.validation_accuracy());
  }
  progress.set_learning_rate(p.record.learning_rate());
  progress.set_epochs_done(p.epochs_done);
  progress.set_epochs_planned(p.epochs_planned);
  progress.set_elapsed_seconds(p.elapsed_seconds);
  progress.set_eta_seconds(p.eta_seconds);
  progress.set_network(p.network);
  progress.set_networks(p.networks);
  return progress;
}

TrainProgress FromTrainJobProgress(const v1::TrainJobProgress& p) {
  TrainProgress out;
  out.record.set_phase(p.phase());
  out.record.set_layer(p.layer());
  out.record.set_epoch(p.epoch());
  out.record.set_train_loss(p.train_loss());
  if (p.has_validation_loss()) out.record.set_validation_loss(p.validation_loss());
  if (p.has_validation_accuracy()) out.record.set_validation_accuracy(p.validation_accuracy());
  out.record.set_learning_rate(p.learning_rate());
  out.epochs_done = p.epochs_done();
  out.epochs_planned = p.epochs_planned();
  out.elapsed_seconds = p.elapsed_seconds();
  out.eta_seconds = p.eta_seconds();
  out.network = std::max(p.network(), 1);
  out.networks = std::max(p.networks(), 1);
  return out;
}

}  // namespace strata
