#include "core/train/train_memory.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/scoring/ensemble_score.h"
#include "core/scoring/isolation_forest.h"
#include "core/train/train_config.h"

namespace strata {
namespace {

// Sizes are worked out in double (a hostile config overflows int64), then
// saturated.
int64_t Saturate(double bytes) {
  constexpr double kMax = static_cast<double>(std::numeric_limits<int64_t>::max());
  return bytes >= kMax ? std::numeric_limits<int64_t>::max() : static_cast<int64_t>(bytes);
}

// Rows of the evaluation and calibration chunks (core/train/row_sets.cc,
// core/train/supervised_evaluation.cc, core/train/calibration.cc,
// core/scoring/anomaly.cc) and of the Gaussian's sample (FitCodeGaussian).
constexpr double kChunkRows = 4096;
constexpr double kMaxGaussianRows = 100000;

}  // namespace

TrainingMemory EstimateTrainingMemory(const v1::TrainConfig& resolved, int input_dim, int64_t rows,
                                      bool mapped) {
  const double d = input_dim;
  const double r = static_cast<double>(rows);
  // Mapped (Trainer::Train(const RowFile&)): calibration on every k-th row
  // within Trainer::Options::calibration_values' default.
  const double calibrated = mapped ? std::min(r, std::ceil(kMappedSampleValues / d)) : r;
  std::vector<double> widths = {d};  // input, h1 ... code
  for (int w : resolved.encoder_widths()) widths.push_back(w);
  const double k = widths.back();

  // Weights and biases: the encoder, and the mirrored decoder (biases only
  // when tied).
  double params = 0, layer_widths = d;  // every layer's output, and the input
  for (size_t i = 1; i < widths.size(); ++i) {
    const double in = widths[i - 1], out = widths[i];
    params += in * out + out;                                 // encoder layer i
    params += (resolved.tied_weights() ? 0 : in * out) + in;  // its decoder mirror
    layer_widths += out + in;
  }
  int optimizer_slots = 0;
  switch (resolved.optimizer().kind()) {
    case v1::OptimizerConfig::SGD:
      optimizer_slots = resolved.optimizer().momentum() > 0 ? 1 : 0;
      break;
    case v1::OptimizerConfig::RMSPROP:
      optimizer_slots = 1;
      break;
    default:  // ADAM
      optimizer_slots = 2;
  }
  const bool keeps_best = resolved.early_stopping().patience() > 0;
  // Weights, gradients, optimizer state, the best epoch's copy; at publish
  // the artifact and its serialized bytes hold the weights twice more.
  const double parameter_copies = 2 + optimizer_slots + (keeps_best ? 1 : 0) + 2;

  TrainingMemory m;
  // The raw rows, the scaled copy being split (and later the drift
  // baseline's), and the train + validation rows; pretraining adds the
  // codes of each layer and the layer below's.
  double data = 3 * r * d;
  if (mapped) {
    // The rows stay in the file: each network's split and shuffle order
    // (three ints a row), and the calibration's sample.
    data = 3 * r * (EnsembleSize(resolved, rows, input_dim) > 1 ? 2 : 1) + calibrated * d;
  } else if (resolved.pretrain_epochs() > 0) {
    double pair = 0;
    for (size_t i = 1; i < widths.size(); ++i) pair = std::max(pair, widths[i - 1] + widths[i]);
    data += r * pair;
  }
  m.data_bytes = Saturate(4 * data);
  // The ensemble's other networks (core/scoring/ensemble_score.h), trained one at a
  // time: each kept, then held twice more in the artifact and its bytes.
  const double networks = EnsembleSize(resolved, rows, input_dim);
  m.parameter_bytes = Saturate(4 * params * (parameter_copies + 3 * (networks - 1)));
  // A mini-batch keeps each layer's pre-activation, activation and delta,
  // plus the noisy or dropped-out input; batch normalisation adds the
  // normalised values and output, a skip the sum and its gradient; an
  // evaluation chunk runs forward.
  const double batch = std::min<double>(resolved.batch_size(), std::max(r, 1.0));
  const double copies =
      4 + (resolved.batch_norm() != v1::BATCH_NORM_NONE ? 2 : 0) + (resolved.residual() ? 2 : 0);
  m.activation_bytes = Saturate(
      4 * std::max(copies * batch * layer_widths, 2 * std::min(kChunkRows, r) * layer_widths));
  // FitCodeGaussian: the codes of every row (float), a sample of at most
  // 100,000 of them with its centered, kept and distance copies (double),
  // and the covariance, eigenvectors, precision and two products (k x k
  // double); the per-row scores; the precision in the artifact, twice.
  // The ensemble score adds every network's codes, a scaled copy of the
  // rows, one sorted column and the knots, and each network's precision,
  // twice; its isolation forest a row index (8 bytes a row), the forest's
  // and the networks' scores of every row, and the forest's nodes (12
  // bytes each), twice.
  const double c = calibrated;
  const double sample = std::min(c, kMaxGaussianRows);
  const double forest_nodes = kForestTrees * (2.0 * kForestSampleSize - 1);
  m.calibration_bytes =
      Saturate(4 * c * k + 8 * 4 * sample * k + 8 * 5 * k * k + 4 * 6 * c + 4 * 2 * k * k +
               4 * (networks * c * k + c * d + c + d * kMaxTailKnots) + 4 * 2 * networks * k * k +
               8 * c + 4 * 2 * c + 2 * 12 * forest_nodes);
  return m;
}

int64_t TrainingMemory::total_bytes() const {
  return Saturate(static_cast<double>(data_bytes) + static_cast<double>(parameter_bytes) +
                  static_cast<double>(activation_bytes) + static_cast<double>(calibration_bytes));
}

std::string FormatBytes(int64_t bytes) {
  const double b = static_cast<double>(bytes);
  if (b < 1024) return absl::StrCat(bytes, " B");
  if (b < 1024.0 * 1024) return absl::StrFormat("%.1f KiB", b / 1024);
  if (b < 1024.0 * 1024 * 1024) return absl::StrFormat("%.1f MiB", b / (1024.0 * 1024));
  return absl::StrFormat("%.1f GiB", b / (1024.0 * 1024 * 1024));
}

absl::StatusOr<int64_t> ParseBytes(absl::string_view text) {
  absl::string_view t = absl::StripAsciiWhitespace(text);
  double scale = 1;
  auto strip = [&t](absl::string_view suffix) {
    if (t.size() > suffix.size() &&
        absl::EqualsIgnoreCase(t.substr(t.size() - suffix.size()), suffix)) {
      t.remove_suffix(suffix.size());
      return true;
    }
    return false;
  };
  if (!strip("iB")) strip("B");
  constexpr absl::string_view kUnits = "KMGT";
  if (!t.empty()) {
    const size_t unit = kUnits.find(absl::ascii_toupper(t.back()));
    if (unit != absl::string_view::npos) {
      for (size_t i = 0; i <= unit; ++i) scale *= 1024;
      t.remove_suffix(1);
    }
  }
  double value;
  if (t.empty() || !absl::SimpleAtod(t, &value) || !(value >= 0) || value * scale >= 9.2e18) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "' is not a size in bytes (examples: 1073741824, 512MiB, 8G)"));
  }
  return static_cast<int64_t>(value * scale);
}

std::string TrainingMemory::ToString() const {
  return absl::StrCat(FormatBytes(total_bytes()), " (data ", FormatBytes(data_bytes),
                      ", weights and optimizer state ", FormatBytes(parameter_bytes),
                      ", activations ", FormatBytes(activation_bytes), ", calibration ",
                      FormatBytes(calibration_bytes), ")");
}

absl::Status CheckTrainingMemory(const TrainingMemory& memory, int64_t limit_bytes) {
  if (limit_bytes <= 0 || memory.total_bytes() <= limit_bytes) return absl::OkStatus();
  return absl::ResourceExhaustedError(
      absl::StrCat("the job would need about ", memory.ToString(), "; this server allows ",
                   FormatBytes(limit_bytes),
                   " per job (--max_job_memory): use narrower layers, a smaller code, a smaller "
                   "batch or fewer rows"));
}

}  // namespace strata
