#include "server/inference.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/nn/classifier_head.h"
#include "core/scoring/anomaly.h"
#include "core/train/train_config.h"

namespace strata {
namespace {

// A model call's answer, and what the drift monitor observes of it.
struct Computed {
  Matrix out;
  Matrix code;          // empty when not computed
  Eigen::VectorXf mse;  // per row, scaled space; empty when not computed
  std::vector<int> classes;  // predicted, per row; empty when not computed
};

absl::StatusOr<Computed> Compute(const ServableModel& m, const InferenceOp& op,
                                 const Matrix& rows) {
  const Model& model = *m.model;
  const bool watch = m.drift != nullptr && op.observe;
  Computed c;
  switch (op.kind) {
    case InferenceOp::Kind::kEncode: {
      absl::StatusOr<Matrix> features = model.Encode(rows, op.layer);
      if (!features.ok()) return features.status();
      c.out = *std::move(features);
      if (watch && op.layer == model.depth()) c.code = c.out;
      return c;
    }
    case InferenceOp::Kind::kReconstruct: {
      absl::StatusOr<Matrix> out = model.Reconstruct(rows, watch ? &c.code : nullptr);
      if (!out.ok()) return out.status();
      c.out = *std::move(out);
      if (watch) {
        // The error in scaled space, from the two batches in original units.
        Matrix diff = c.out - rows;
        diff.array().rowwise() /= model.scaler().scale().array();
        c.mse = RowMeans(diff.array().square().matrix());
      }
      return c;
    }
    case InferenceOp::Kind::kScore: {
      absl::StatusOr<Matrix> scored = model.Score(rows, op.metric, watch ? &c.code : nullptr);
      if (!scored.ok()) return scored.status();
      c.out = *std::move(scored);
      if (watch) {
        const auto errors = c.out.leftCols(c.out.cols() - 1);
        c.mse = op.metric == ScoreMetric::kMeanAbsolute ? RowMeans(errors.array().square().matrix())
                                                        : RowMeans(errors);
      }
      return c;
    }
    case InferenceOp::Kind::kPredict: {
      absl::StatusOr<Matrix> probabilities = model.Predict(rows, watch ? &c.code : nullptr);
      if (!probabilities.ok()) return probabilities.status();
      c.out = *std::move(probabilities);
      if (watch) c.classes = TopClasses(c.out);
      return c;
    }
  }
  return absl::InternalError("unknown inference op");
}

// Finite inputs can still overflow inside the model (values like 1e38, far
// outside the training range): such rows get an error naming them rather
// than NaN or infinite answers, and the drift monitor never sees them.
absl::Status CheckFinite(const Computed& c, const Matrix& rows) {
  if (c.out.allFinite() && c.mse.allFinite() && c.code.allFinite()) return absl::OkStatus();
  for (Eigen::Index r = 0; r < rows.rows(); ++r) {
    if (c.out.row(r).allFinite() && (c.mse.size() == 0 || std::isfinite(c.mse(r))) &&
        (c.code.size() == 0 || c.code.row(r).allFinite())) {
      continue;
    }
    Eigen::Index col = 0;
    rows.row(r).cwiseAbs().maxCoeff(&col);
    return absl::InvalidArgumentError(absl::StrCat(
        "row ", r, ": the model's output is not finite for this row (column ", col, " is ",
        rows(r, col), "); values this far outside the training data cannot be scored"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Matrix> RunInference(const ServableModel& m, const InferenceOp& op,
                                    const Matrix& rows) {
  absl::StatusOr<Computed> c = Compute(m, op, rows);
  if (!c.ok()) return c.status();
  if (absl::Status s = CheckFinite(*c, rows); !s.ok()) return s;
  if (m.drift != nullptr && op.observe) {
    m.drift->Observe(rows, c->mse.size() ? &c->mse : nullptr,
                     c->code.size() ? &c->code : nullptr,
                     c->classes.empty() ? nullptr : &c->classes);
  }
  return std::move(c->out);
}

int64_t MultiplyAddsPerRow(const Model& model, const InferenceOp& op) {
  const v1::Architecture& arch = model.autoencoder().architecture();
  if (op.kind == InferenceOp::Kind::kPredict) {
    // The encoder (a tied count is the encoder's) and the head.
    const int64_t head = model.classifier().has_value() ? model.classifier()->weights.size() : 0;
    return WeightCount(arch.input_dim(), arch.encoder_widths(), /*tied=*/true) + head;
  }
  int64_t macs = WeightCount(arch.input_dim(), arch.encoder_widths(), /*tied=*/false);
  if (op.kind == InferenceOp::Kind::kScore && op.metric == ScoreMetric::kEnsemble) {
    // Each other network's encoder (a tied count is the encoder's), and the
    // feature-tail term's two 32-knot block counts per feature.
    macs += static_cast<int64_t>(model.ensemble().size()) *
                WeightCount(arch.input_dim(), arch.encoder_widths(), /*tied=*/true) +
            int64_t{4} * 32 * arch.input_dim();
  }
  return macs;
}

}  // namespace strata
