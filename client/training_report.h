// Text renderings of training for the terminal: the live progress line, the
// training curve and the reconstruction-error summary.
#ifndef STRATA_CLIENT_TRAINING_REPORT_H_
#define STRATA_CLIENT_TRAINING_REPORT_H_

#include <string>
#include <vector>

#include "core/model.h"
#include "core/trainer.h"
#include "strata/v1/model.pb.h"

namespace strata::cli {

// "finetune epoch 12/50  loss 0.0123  val 0.0130  lr 1e-03  ETA 3s".
std::string FormatProgress(const TrainProgress& progress);

// One line per epoch (sampled to about `max_rows`, keeping each phase's first
// and last epoch) with a bar on a log scale of the loss.
std::string FormatCurve(const std::vector<v1::EpochRecord>& history, int max_rows = 30);

// "784 -> 1000 (relu) -> ... -> 784 (sigmoid), tied".
std::string FormatArchitecture(const v1::Architecture& arch);

// Per-row reconstruction MSE over `data` (mean, p50, p95, max) and the
// features reconstructed worst. REQUIRES: data matches the model's features.
std::string FormatReconstructionError(const Model& model, const Matrix& data);

// A sweep's results, one row per trial ("*" marks the best), then why the
// failed trials failed:
//   trial  state      objective  val_loss   probe   head    epochs  seconds  settings
std::string FormatSweepTable(const v1::SweepSummary& sweep);

}  // namespace strata::cli

#endif  // STRATA_CLIENT_TRAINING_REPORT_H_
