// The Open Inference Protocol's tensors for strata's models (used by
// server/oip_service.h): the one input read into strata's rows, the
// requested outputs planned as model calls, and the answers filled in from
// those calls through the code of strata's own RPCs (FillScores,
// FillPredictions), so that both protocols answer the same bytes.
//
//   v1::DenseMatrix rows; bool raw;
//   ReadInput(request, max_rows, &rows, &raw);        // then strata's row checks
//   absl::StatusOr<Plan> plan = PlanOutputs(request, servable);
//   ... run plan->ops, each result into results[i] ...
//   Fill(servable, *plan, results, raw, &arena, &response);
//
// Functions only; thread-compatible.
#ifndef STRATA_SERVER_OIP_TENSORS_H_
#define STRATA_SERVER_OIP_TENSORS_H_

#include <google/protobuf/arena.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/nn/matrix.h"
#include "inference/open_inference_grpc.pb.h"
#include "server/inference.h"
#include "server/model_registry.h"
#include "strata/v1/service.pb.h"

namespace strata::oip {

inline constexpr char kInput[] = "records";
inline constexpr char kFeatureNamesParameter[] = "feature_names";

// What one output is.
enum class Kind {
  kLayer,           // h1 ... code: Encode
  kReconstruction,  // Reconstruct
  kScore,           // AnomalyScore's score, is_anomaly, percentile, feature_errors
  kIsAnomaly,
  kPercentile,
  kFeatureErrors,
  kProbabilities,  // Predict's probabilities and top class names
  kClass,
};

struct Output {
  std::string name;
  Kind kind;
  int layer = 0;  // kLayer
};

// Every output `model` answers, in the order a request naming none gets them.
std::vector<Output> AllOutputs(const Model& model);

// The request's one input as a DenseMatrix (the rows of strata's own
// requests), checked against the protocol's rules. `raw` says whether it
// came as raw_input_contents.
absl::Status ReadInput(const inference::ModelInferRequest& request, int64_t max_rows,
                       v1::DenseMatrix* dense, bool* raw);

// The outputs a request names (every output of the model when it names
// none), each checked against the model, the one score metric they ask for,
// and the model calls that answer them.
struct Plan {
  std::vector<Output> outputs;
  v1::ScoreOptions score_options;  // metric as the request asked (unspecified: default)
  std::vector<InferenceOp> ops;    // the model calls, the first observed for drift
};
absl::StatusOr<Plan> PlanOutputs(const inference::ModelInferRequest& request,
                                 const ServableModel& m);

// The response from the model calls' answers (`results[i]` is plan.ops[i]'s),
// each through the code strata's own RPC fills its answer with, as raw bytes
// or typed contents. Its temporaries go on `arena`.
void Fill(const ServableModel& m, const Plan& plan, const std::vector<Matrix>& results, bool raw,
          google::protobuf::Arena* arena, inference::ModelInferResponse* response);

}  // namespace strata::oip

#endif  // STRATA_SERVER_OIP_TENSORS_H_
