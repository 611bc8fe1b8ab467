// Hyperparameter sweeps: the trials of a SweepSpec over a base config, and
// how a trained trial is scored on the sweep's objective.
//
//   absl::StatusOr<std::vector<SweepTrialPlan>> plans =
//       PlanSweep(spec.sweep(), spec.config(), input_dim, has_labels);
//   ... train each plan's config ...
//   absl::Status s = ScoreSweepTrial(objective, *model, rows, classes, &trial);
//   if (s.ok() && SweepBetter(objective, trial.objective(), best)) ...
//
// Scheduling the trials is the caller's (server/train_jobs.h runs each on a
// job worker).
#ifndef STRATA_CORE_TRAIN_SWEEP_H_
#define STRATA_CORE_TRAIN_SWEEP_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/model/model.h"
#include "core/nn/matrix.h"
#include "strata/v1/model.pb.h"
#include "strata/v1/train_config.pb.h"

namespace strata {

// The most trials one sweep may hold.
inline constexpr int kMaxSweepTrials = 100;
// RANDOM's trials when SweepSpec.trials is absent.
inline constexpr int kDefaultRandomTrials = 10;
// LINEAR_PROBE_ACCURACY scores at most this many labelled rows (a seeded
// sample): the probe's 5 folds of 300 full-batch steps then take seconds.
inline constexpr int kMaxProbeRows = 5000;

// A trial to train: the base config with the trial's settings applied.
struct SweepTrialPlan {
  v1::TrainConfig config;  // Unresolved, as a job's spec carries it.
  std::vector<v1::SweepSetting> settings;
};

// A SweepSpec from JSON (proto field names or their JSON forms), e.g.
//   {"parameters": [{"field": "encoder_widths", "values": ["[32,8]", "[64,16]"]}]}
// InvalidArgument saying where in the text a fault is.
absl::StatusOr<v1::SweepSpec> ParseSweepSpecJson(absl::string_view json);

// The objective `sweep` names, or the default for a job with or without
// class labels (HEAD_ACCURACY with, VALIDATION_LOSS without).
v1::SweepObjective ResolveSweepObjective(const v1::SweepSpec& sweep, bool has_labels);

// Whether a trial whose labels train a classifier head: a job with labels,
// unless its objective is the linear probe (whose labels score the codes).
bool SweepTrainsHead(v1::SweepObjective objective, bool has_labels);

// The trials of `sweep` over `base`, for data of `input_dim` columns, each
// config checked as a job's would be (ResolveTrainConfig,
// CheckTrainingEpochs). InvalidArgument naming the parameter (by index and
// field) or the trial (by number and settings) for: no parameters, an
// unknown, repeated or overlapping field, a field the objective forbids, a
// value that is not JSON for its field, a bad range, too many trials, an
// objective the data cannot serve (labels missing), or a trial config the
// trainer would refuse.
absl::StatusOr<std::vector<SweepTrialPlan>> PlanSweep(const v1::SweepSpec& sweep,
                                                      const v1::TrainConfig& base, int input_dim,
                                                      bool has_labels);

// Whether objective value `a` beats `b` (lower loss, higher accuracy).
bool SweepBetter(v1::SweepObjective objective, double a, double b);

// The rows LINEAR_PROBE_ACCURACY scores: the labelled ones (classes[r] !=
// kUnlabelled), at most kMaxProbeRows of them by a fixed-seed sample, in
// ascending order.
std::vector<int64_t> ProbeSampleRows(const std::vector<int>& classes);

// Measures a trained trial: its validation loss and head accuracy from the
// model's summary, the linear probe on the codes of the labelled `rows`
// (raw units; `classes` one per row, kUnlabelled for none) when the
// objective is LINEAR_PROBE_ACCURACY, then trial->objective.
// FailedPrecondition when the objective's figure cannot be measured (no
// validation rows, no labelled validation rows); the probe's errors as
// LinearProbe gives them.
absl::Status ScoreSweepTrial(v1::SweepObjective objective, const Model& model, const Matrix& rows,
                             const std::vector<int>& classes, v1::SweepTrial* trial);

// "optimizer.learning_rate=0.01 encoder_widths=[32,8]".
std::string FormatSweepSettings(const v1::SweepTrial& trial);

}  // namespace strata

#endif  // STRATA_CORE_TRAIN_SWEEP_H_
