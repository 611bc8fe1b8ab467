// Training configs: parsing from JSON, defaults, validation.
//
//   absl::StatusOr<v1::TrainConfig> config = ParseTrainConfigJson(json);
//   absl::StatusOr<v1::TrainConfig> resolved = ResolveTrainConfig(config, 6);
//   v1::Architecture arch = ArchitectureFromConfig(resolved, 6);
//
// The field defaults are documented in proto/strata/v1/train_config.proto and
// applied here, in one place.
#ifndef STRATA_CORE_TRAIN_TRAIN_CONFIG_H_
#define STRATA_CORE_TRAIN_TRAIN_CONFIG_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/nn/stacked_autoencoder.h"
#include "strata/v1/model.pb.h"
#include "strata/v1/train_config.pb.h"

namespace strata {

// Bounds that keep a config (which may come from any client) from asking
// for more memory or threads than a server can give. The network's own
// bounds, kMaxLayerWidth and kMaxParameters, are in core/nn/stacked_autoencoder.h.
inline constexpr int kMaxEpochs = 1000000;
inline constexpr int kMaxThreads = 1024;
inline constexpr int kMaxEnsembleSize = 16;

// anomaly.ensemble_size when the config leaves it out: 5 networks when the
// training data has at most 10 million values (rows x features), where
// they cost seconds, else 1. REQUIRES: rows, input_dim >= 0.
int DefaultEnsembleSize(int64_t rows, int input_dim);
// The networks a job trains: anomaly.ensemble_size, or the default for its
// data. REQUIRES: `resolved` came from ResolveTrainConfig.
int EnsembleSize(const v1::TrainConfig& resolved, int64_t rows, int input_dim);
// The networks a training in one process trains: EnsembleSize, but one
// without unsupervised epochs (a classifier trained from its
// initialisation, where the others would stay untrained).
// REQUIRES: `resolved` came from ResolveTrainConfig.
int TrainedNetworks(const v1::TrainConfig& resolved, int64_t rows, int input_dim);
// The epochs a training of `networks` networks plans, as its progress
// counts them: each network's pretraining (every layer) and fine-tuning,
// then, with class labels (`labelled`), the served network's supervised
// phase. At most INT_MAX; early stopping may end sooner.
// REQUIRES: `resolved` came from ResolveTrainConfig.
int PlannedEpochs(const v1::TrainConfig& resolved, int networks, bool labelled);

// Parses a TrainConfig from JSON. Unknown fields are errors; enum values are
// case-insensitive ("relu" or "RELU").
absl::StatusOr<v1::TrainConfig> ParseTrainConfigJson(absl::string_view json);
std::string TrainConfigToJson(const v1::TrainConfig& config);

// Returns `config` with every default filled in for data with `input_dim`
// features, or InvalidArgument naming the first bad field.
absl::StatusOr<v1::TrainConfig> ResolveTrainConfig(const v1::TrainConfig& config, int input_dim);

// InvalidArgument (naming finetune_epochs) when pretrain_epochs and
// finetune_epochs are both 0 and the rows are not `labelled`: with class
// labels the network may train from its initialisation in the supervised
// phase alone, as one network (anomaly.ensemble_size above 1 is then
// InvalidArgument). REQUIRES: `resolved` came from ResolveTrainConfig.
absl::Status CheckTrainingEpochs(const v1::TrainConfig& resolved, bool labelled);

// The fewest rows a model can be trained and calibrated on:
// max(50, 2 x code width). Fewer cannot place a threshold (one row gave a
// threshold of 0 and every other row a score of 1e12) or fit the code's
// Gaussian (its covariance needs more rows than code units).
// REQUIRES: `resolved` came from ResolveTrainConfig.
int64_t MinTrainingRows(const v1::TrainConfig& resolved);
// InvalidArgument stating the minimum when `rows` are fewer.
absl::Status CheckTrainingRows(const v1::TrainConfig& resolved, int64_t rows);
// Training rows above the threshold below which its calibration is weak:
// fewer than this many training rows score above the threshold percentile.
inline constexpr double kMinRowsAboveThreshold = 10;
// Labelled validation rows below which a classifier's validation accuracy
// is a weak estimate: its binomial 95% interval, 1.96 sqrt(p(1-p)/n), is
// up to +-0.098 at 100 rows and wider below (at p = 0.5).
inline constexpr int kMinLabelledValidationRows = 100;
// supervised.head_epochs when full fine-tuning follows unsupervised epochs.
inline constexpr int kDefaultHeadEpochs = 50;

// The network shape of a resolved config.
v1::Architecture ArchitectureFromConfig(const v1::TrainConfig& resolved, int input_dim);

}  // namespace strata

#endif  // STRATA_CORE_TRAIN_TRAIN_CONFIG_H_
