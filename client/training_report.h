// Text renderings of training for the terminal: the live progress line, the
// training curve, the summary lines, the jobs table and the
// reconstruction-error summary. Each figure says what it is: an epoch's
// (the progress, a running job's loss) or the published weights' (the
// summary's), the reconstruction loss or the supervised objective.
#ifndef STRATA_CLIENT_TRAINING_REPORT_H_
#define STRATA_CLIENT_TRAINING_REPORT_H_

#include <string>
#include <vector>

#include "core/model/model.h"
#include "core/train/trainer.h"
#include "strata/v1/model.pb.h"
#include "strata/v1/service.pb.h"

namespace strata::cli {

// "[####......] 12/45 network 2 of 5 finetune epoch 3  loss 0.0123  val
// 0.0130  lr 1e-03  ETA 3s" (the network only for an ensemble). The epoch
// count and ETA are over every network's epochs; the figures are this
// epoch's, its validation accuracy `val_acc`.
std::string FormatProgress(const TrainProgress& progress);

// What an epoch's losses are: "reconstruction" (fine-tuning), "layer 2
// reconstruction" (pretraining a layer on its own input) or "supervised
// objective" (cross-entropy plus the weighted reconstruction loss).
std::string EpochLossName(const v1::EpochRecord& epoch);

// "45 epochs (5 networks) in 9.89s": every network's epochs and the whole
// training's seconds (TrainingSummary.epochs and .seconds), as `strata
// train`, `inspect` and `report` all show them. `networks`: the ensemble
// trained (anomaly.ensemble_size), named when more than one.
std::string FormatEpochsAndSeconds(const v1::TrainingSummary& summary, int networks);

// "classifier: 3 classes, accuracy 0.9512 on 410 labelled training rows,
// validation accuracy 0.8967 on 70 labelled rows (the published weights:
// the epoch early stopping kept)". The progress line's val_acc is each
// epoch's own, so the last one shown may differ from this.
std::string FormatClassifierSummary(const v1::ClassifierSummary& classifier, int classes);

// `strata jobs`' table: a header, then one row per job. LOSS names its
// loss: a finished job's final reconstruction loss (the summary's, as
// `inspect` and `report` show it), else the last epoch's, by
// EpochLossName.
std::vector<std::vector<std::string>> FormatJobsTable(
    const google::protobuf::RepeatedPtrField<v1::TrainJob>& jobs);

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
