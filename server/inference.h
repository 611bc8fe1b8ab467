// RunInference: the one place a serving path calls a model.
//
// It computes an InferenceOp (encode, reconstruct, score or predict) for a batch of
// validated raw rows, refuses rows whose answer is not finite, and feeds the
// version's drift monitor. Unary calls, the score stream and the Batcher
// (server/batcher.h) all answer through it.
//
//   InferenceOp op;
//   op.kind = InferenceOp::Kind::kScore;
//   op.metric = ScoreMetric::kMeanSquared;
//   absl::StatusOr<Matrix> out = RunInference(servable, op, rows);
//
// Thread-safe: the model version is immutable and the drift monitor is
// thread-safe.
#ifndef STRATA_SERVER_INFERENCE_H_
#define STRATA_SERVER_INFERENCE_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "core/nn/matrix.h"
#include "core/scoring/anomaly.h"
#include "server/model_registry.h"

namespace strata {

// What one model call computes for each row.
struct InferenceOp {
  // kPredict: the classifier head's class probabilities.
  enum class Kind { kEncode, kReconstruct, kScore, kPredict };
  Kind kind = Kind::kEncode;
  int layer = 0;                                   // kEncode: 1 ... depth
  ScoreMetric metric = ScoreMetric::kMeanSquared;  // kScore: resolved, never unspecified
  // Whether the version's drift monitor sees the rows. False for all but
  // one of the calls that answer one request (an Open Inference Protocol
  // request asking for a code and a score makes two), so that each record
  // is counted once.
  bool observe = true;

  bool operator==(const InferenceOp& o) const {
    return kind == o.kind && layer == o.layer && metric == o.metric && observe == o.observe;
  }
};

// Features, reconstructions (original units), for kScore per-feature
// errors then each row's score as a last column (Model::Score), or for
// kPredict class probabilities (Model::Predict) of `rows`
// (validated: finite, the model's width), after observing them for drift
// (unless !op.observe).
absl::StatusOr<Matrix> RunInference(const ServableModel& m, const InferenceOp& op,
                                    const Matrix& rows);

// Multiply-adds of `op` for one row: a full pass (encoder and decoder), plus
// the ensemble's other encoders and the feature tails for the ensemble
// score; for kPredict the encoder and the classifier head. What a model
// call costs per row, to decide where it runs.
int64_t MultiplyAddsPerRow(const Model& model, const InferenceOp& op);

}  // namespace strata

#endif  // STRATA_SERVER_INFERENCE_H_
