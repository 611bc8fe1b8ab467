#include "server/oip_tensors.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "server/inference_service.h"

namespace strata::oip {
namespace {

using inference::InferParameter;
using inference::ModelInferRequest;
using inference::ModelInferResponse;
using ParameterMap = google::protobuf::Map<std::string, InferParameter>;

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "raw tensor contents are little-endian and copied as they are");

using inference::InferParameter;
using inference::ModelInferRequest;
using inference::ModelInferResponse;
using ParameterMap = google::protobuf::Map<std::string, InferParameter>;

constexpr char kMetricParameter[] = "metric";
constexpr char kLayerParameter[] = "layer";
constexpr char kBinaryDataSize[] = "binary_data_size";
constexpr char kBinaryData[] = "binary_data";

bool IsScore(Kind k) {
  return k == Kind::kScore || k == Kind::kIsAnomaly || k == Kind::kPercentile ||
         k == Kind::kFeatureErrors;
}

std::string LayerName(const Model& model, int layer) {
  return layer == model.depth() ? "code" : absl::StrCat("h", layer);
}

}  // namespace

std::vector<Output> AllOutputs(const Model& model) {
  std::vector<Output> all;
  for (int layer = 1; layer <= model.depth(); ++layer) {
    all.push_back({LayerName(model, layer), Kind::kLayer, layer});
  }
  all.push_back({"reconstruction", Kind::kReconstruction});
  all.push_back({"score", Kind::kScore});
  all.push_back({"is_anomaly", Kind::kIsAnomaly});
  all.push_back({"percentile", Kind::kPercentile});
  all.push_back({"feature_errors", Kind::kFeatureErrors});
  if (model.classifier().has_value()) {
    all.push_back({"probabilities", Kind::kProbabilities});
    all.push_back({"class", Kind::kClass});
  }
  return all;
}

namespace {

// The output `name` names, if `model` has it: AllOutputs's entry, found
// without building the list (this runs on every request).
std::optional<Output> FindOutput(const Model& model, const std::string& name) {
  static const std::pair<const char*, Kind> kFixed[] = {
      {"reconstruction", Kind::kReconstruction}, {"score", Kind::kScore},
      {"is_anomaly", Kind::kIsAnomaly},          {"percentile", Kind::kPercentile},
      {"feature_errors", Kind::kFeatureErrors},  {"probabilities", Kind::kProbabilities},
      {"class", Kind::kClass}};
  for (const auto& [fixed, kind] : kFixed) {
    if (name != fixed) continue;
    if ((kind == Kind::kProbabilities || kind == Kind::kClass) && !model.classifier().has_value()) {
      return std::nullopt;
    }
    return Output{name, kind};
  }
  if (name == "code") return Output{name, Kind::kLayer, model.depth()};
  int layer = 0;
  if (name.size() > 1 && name[0] == 'h' && name[1] != '0' &&
      absl::SimpleAtoi(absl::string_view(name).substr(1), &layer) && layer >= 1 &&
      layer < model.depth() && name == LayerName(model, layer)) {
    return Output{name, Kind::kLayer, layer};
  }
  return std::nullopt;
}

std::string ModelLabel(const ServableModel& m) {
  return absl::StrCat("model ", m.name, " version ", m.version);
}

// A parameter's value in words, for messages.
std::string ParameterKind(const InferParameter& p) {
  switch (p.parameter_choice_case()) {
    case InferParameter::kBoolParam:
      return "a bool";
    case InferParameter::kInt64Param:
    case InferParameter::kUint64Param:
      return "an integer";
    case InferParameter::kStringParam:
      return "a string";
    case InferParameter::kDoubleParam:
      return "a double";
    default:
      return "empty";
  }
}

// `where` of a message: text, or a function that makes it.
inline const std::string& WhereText(const std::string& where) { return where; }
template <typename F>
std::string WhereText(const F& where) {
  return where();
}

// Refuses any parameter of `params` not in `known`: one strata does not read
// could change what the caller thinks the answer means.
template <typename Where>
absl::Status CheckKnown(const ParameterMap& params, std::initializer_list<const char*> known,
                        const Where& where) {
  for (const auto& entry : params) {
    const std::string& name = entry.first;  // not a structured binding: clang 14 cannot capture one
    if (std::none_of(known.begin(), known.end(), [&name](const char* k) { return name == k; })) {
      return absl::InvalidArgumentError(absl::StrCat(
          WhereText(where), " parameter '", name, "' is not one strata reads (",
          known.size() == 0 ? "it reads none here" : absl::StrCat("it reads: ", absl::StrJoin(known, ", ")),
          "; see docs/open_inference_protocol.md)"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> StringParameter(const ParameterMap& params, const char* name,
                                            const std::string& where) {
  const InferParameter& p = params.at(name);
  if (p.parameter_choice_case() != InferParameter::kStringParam) {
    return absl::InvalidArgumentError(absl::StrCat(where, " parameter '", name,
                                                   "' must be a string; it is ",
                                                   ParameterKind(p)));
  }
  return p.string_param();
}

// A metric parameter ("MEAN_SQUARED", "combined", ...) as strata's enum.
absl::StatusOr<v1::ScoreOptions::Metric> ParseMetric(const ParameterMap& params,
                                                     const std::string& where) {
  absl::StatusOr<std::string> text = StringParameter(params, kMetricParameter, where);
  if (!text.ok()) return text.status();
  v1::ScoreOptions::Metric metric;
  if (!v1::ScoreOptions::Metric_Parse(absl::AsciiStrToUpper(*text), &metric) ||
      metric == v1::ScoreOptions::METRIC_UNSPECIFIED) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, " parameter 'metric' is '", *text,
        "'; strata's metrics are MEAN_SQUARED, MEAN_ABSOLUTE, CODE_DISTANCE, COMBINED and "
        "ENSEMBLE (any case); leave it out for the model's default"));
  }
  return metric;
}

}  // namespace

absl::Status ReadInput(const ModelInferRequest& request, int64_t max_rows, v1::DenseMatrix* dense,
                       bool* raw) {
  if (request.inputs_size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "strata models take one input tensor, '", kInput, "' (FP32, [rows, features]); the request has ",
        request.inputs_size()));
  }
  const ModelInferRequest::InferInputTensor& input = request.inputs(0);
  const std::string where = absl::StrCat("input '", input.name(), "'");
  if (input.name() != kInput) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": strata models take one input tensor, named '", kInput, "'"));
  }
  if (input.datatype() != "FP32") {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": datatype '", input.datatype(), "'; strata takes FP32"));
  }
  if (input.shape_size() != 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": shape [", absl::StrJoin(input.shape(), ", "), "] has ", input.shape_size(),
        " dimensions; strata takes [rows, features]"));
  }
  const int64_t rows = input.shape(0);
  const int64_t cols = input.shape(1);
  if (rows < 1 || cols < 1 || cols > std::numeric_limits<int32_t>::max()) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": shape [", rows, ", ", cols, "]; both dimensions must be at least 1"));
  }
  if (rows > max_rows) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", rows,
                                                   " rows; this server takes at most ", max_rows,
                                                   " per request (--max_request_rows)"));
  }
  const int64_t values = rows * cols;
  // binary_data_size: the KServe SDK's, the raw contents' size (checked below).
  if (absl::Status s = CheckKnown(input.parameters(), {kFeatureNamesParameter, kBinaryDataSize},
                                  where);
      !s.ok()) {
    return s;
  }
  const inference::InferTensorContents& c = input.contents();
  const bool other_contents = c.bool_contents_size() || c.int_contents_size() ||
                              c.int64_contents_size() || c.uint_contents_size() ||
                              c.uint64_contents_size() || c.fp64_contents_size() ||
                              c.bytes_contents_size();
  if (other_contents) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": contents other than fp32_contents are set; an FP32 tensor's values go in "
               "contents.fp32_contents or raw_input_contents"));
  }
  dense->set_rows(static_cast<int32_t>(rows));
  dense->set_cols(static_cast<int32_t>(cols));
  *raw = request.raw_input_contents_size() > 0;
  if (*raw) {
    if (request.raw_input_contents_size() != 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "raw_input_contents has ", request.raw_input_contents_size(),
          " entries for 1 input; it needs one per input, in the order of inputs"));
    }
    if (c.fp32_contents_size() > 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": both contents.fp32_contents and raw_input_contents are set; use one"));
    }
    const std::string& bytes = request.raw_input_contents(0);
    if (static_cast<int64_t>(bytes.size()) != values * 4) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": raw_input_contents[0] holds ", bytes.size(), " bytes; shape [", rows, ", ",
          cols, "] of FP32 needs ", values * 4));
    }
    if (input.parameters().contains(kBinaryDataSize)) {
      const InferParameter& size = input.parameters().at(kBinaryDataSize);
      if (size.parameter_choice_case() != InferParameter::kInt64Param ||
          size.int64_param() != static_cast<int64_t>(bytes.size())) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": parameter 'binary_data_size' is not the integer ", bytes.size(),
            ", the size of raw_input_contents[0]"));
      }
    }
    dense->mutable_values()->Resize(static_cast<int>(values), 0.0f);
    std::memcpy(dense->mutable_values()->mutable_data(), bytes.data(), bytes.size());
  } else {
    if (c.fp32_contents_size() != values) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": contents.fp32_contents holds ", c.fp32_contents_size(), " values; shape [",
          rows, ", ", cols, "] needs ", values));
    }
    *dense->mutable_values() = c.fp32_contents();
  }
  if (input.parameters().contains(kFeatureNamesParameter)) {
    absl::StatusOr<std::string> names =
        StringParameter(input.parameters(), kFeatureNamesParameter, where);
    if (!names.ok()) return names.status();
    for (absl::string_view name : absl::StrSplit(*names, ',')) {
      dense->add_column_names(std::string(name));
    }
  }
  return absl::OkStatus();
}

namespace {

absl::Status PlanCalls(const Model& model, Plan* plan);

}  // namespace

absl::StatusOr<Plan> PlanOutputs(const ModelInferRequest& request, const ServableModel& m) {
  const Model& model = *m.model;
  Plan plan;
  std::optional<v1::ScoreOptions::Metric> metric;
  // Every place the metric is given must agree.
  auto set_metric = [&](const ParameterMap& params, const std::string& where) -> absl::Status {
    if (!params.contains(kMetricParameter)) return absl::OkStatus();
    absl::StatusOr<v1::ScoreOptions::Metric> parsed = ParseMetric(params, where);
    if (!parsed.ok()) return parsed.status();
    if (metric.has_value() && *metric != *parsed) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, " parameter 'metric' is ", v1::ScoreOptions::Metric_Name(*parsed),
          " but another parameter asks for ", v1::ScoreOptions::Metric_Name(*metric),
          "; one request has one metric"));
    }
    metric = *parsed;
    return absl::OkStatus();
  };
  if (absl::Status s = CheckKnown(request.parameters(), {kMetricParameter}, std::string("request")); !s.ok()) {
    return s;
  }
  if (absl::Status s = set_metric(request.parameters(), "request"); !s.ok()) return s;
  if (request.outputs_size() == 0) {
    plan.outputs = AllOutputs(model);
  }
  for (int i = 0; i < request.outputs_size(); ++i) {
    const ModelInferRequest::InferRequestedOutputTensor& wanted = request.outputs(i);
    // Built only for a message: this runs for every output of every request.
    auto where = [&wanted] { return absl::StrCat("output '", wanted.name(), "'"); };
    for (int j = 0; j < i; ++j) {
      if (request.outputs(j).name() == wanted.name()) {
        return absl::InvalidArgumentError(absl::StrCat(where(), " is requested twice"));
      }
    }
    std::optional<Output> found = FindOutput(model, wanted.name());
    if (!found.has_value()) {
      std::vector<std::string> names;
      for (const Output& o : AllOutputs(model)) names.push_back(o.name);
      return absl::InvalidArgumentError(absl::StrCat(
          where(), ": ", ModelLabel(m), " has no such output",
          (wanted.name() == "probabilities" || wanted.name() == "class")
              ? " (it has no classifier head: train a version with class labels)"
              : "",
          "; its outputs are ", absl::StrJoin(names, ", ")));
    }
    Output out = *found;
    if (out.kind == Kind::kLayer) {
      if (absl::Status s = CheckKnown(wanted.parameters(), {kLayerParameter, kBinaryData}, where);
          !s.ok()) {
        return s;
      }
      if (wanted.parameters().contains(kLayerParameter)) {
        const InferParameter& p = wanted.parameters().at(kLayerParameter);
        if (out.name != "code") {
          return absl::InvalidArgumentError(absl::StrCat(
              where(), ": parameter 'layer' goes on output 'code' only; '", out.name,
              "' is a layer already"));
        }
        int64_t layer = 0;
        if (p.parameter_choice_case() == InferParameter::kInt64Param) {
          layer = p.int64_param();
        } else if (p.parameter_choice_case() == InferParameter::kUint64Param) {
          layer = static_cast<int64_t>(std::min<uint64_t>(p.uint64_param(), 1u << 30));
        } else {
          return absl::InvalidArgumentError(absl::StrCat(
              where(), " parameter 'layer' must be an integer; it is ", ParameterKind(p)));
        }
        if (layer < 1 || layer > model.depth()) {
          return absl::InvalidArgumentError(absl::StrCat(
              where(), " parameter 'layer' is ", layer, "; ", ModelLabel(m), " has layers 1 to ",
              model.depth(), " (", model.depth(), " is the code)"));
        }
        out.layer = static_cast<int>(layer);
      }
    } else if (IsScore(out.kind)) {
      if (absl::Status s = CheckKnown(wanted.parameters(), {kMetricParameter, kBinaryData}, where);
          !s.ok()) {
        return s;
      }
      if (!wanted.parameters().empty()) {
        if (absl::Status s = set_metric(wanted.parameters(), where()); !s.ok()) return s;
      }
    } else if (absl::Status s = CheckKnown(wanted.parameters(), {kBinaryData}, where); !s.ok()) {
      return s;
    }
    plan.outputs.push_back(out);
  }
  if (metric.has_value()) plan.score_options.set_metric(*metric);
  if (absl::Status s = PlanCalls(model, &plan); !s.ok()) return s;
  return plan;
}

namespace {

// The model calls `plan`'s outputs need: the score first, as it is the one
// whose observation the drift monitor gets most from (inputs, errors and
// codes); only the first call is observed.
absl::Status PlanCalls(const Model& model, Plan* out) {
  Plan& plan = *out;
  auto wants = [&](auto pred) { return std::any_of(plan.outputs.begin(), plan.outputs.end(), pred); };
  if (wants([](const Output& o) { return IsScore(o.kind); })) {
    absl::StatusOr<ScoreMetric> resolved = ResolveMetric(plan.score_options, model);
    if (!resolved.ok()) return resolved.status();
    InferenceOp op;
    op.kind = InferenceOp::Kind::kScore;
    op.metric = *resolved;
    plan.score_options.set_feature_errors(
        wants([](const Output& o) { return o.kind == Kind::kFeatureErrors; }));
    plan.ops.push_back(op);
  }
  if (wants([](const Output& o) { return o.kind == Kind::kReconstruction; })) {
    InferenceOp op;
    op.kind = InferenceOp::Kind::kReconstruct;
    plan.ops.push_back(op);
  }
  if (wants([](const Output& o) {
        return o.kind == Kind::kProbabilities || o.kind == Kind::kClass;
      })) {
    InferenceOp op;
    op.kind = InferenceOp::Kind::kPredict;
    plan.ops.push_back(op);
  }
  std::set<int> layers;
  for (const Output& o : plan.outputs) {
    if (o.kind == Kind::kLayer) layers.insert(o.layer);
  }
  for (int layer : layers) {
    InferenceOp op;
    op.kind = InferenceOp::Kind::kEncode;
    op.layer = layer;
    plan.ops.push_back(op);
  }
  for (size_t i = 1; i < plan.ops.size(); ++i) plan.ops[i].observe = false;
  return absl::OkStatus();
}

// Writes output tensors, as raw bytes or typed contents, element i of each
// from get(i), straight into the response (no copy in between).
class OutputWriter {
 public:
  OutputWriter(ModelInferResponse* response, bool raw) : response_(response), raw_(raw) {}

  template <typename Get>
  ModelInferResponse::InferOutputTensor* Fp32(const std::string& name,
                                              std::initializer_list<int64_t> shape, int64_t count,
                                              Get get) {
    ModelInferResponse::InferOutputTensor* t = Add(name, "FP32", shape);
    if (raw_) {
      std::string* bytes = response_->add_raw_output_contents();
      bytes->resize(static_cast<size_t>(count) * sizeof(float));
      for (int64_t i = 0; i < count; ++i) {
        const float v = get(i);
        std::memcpy(bytes->data() + i * sizeof(float), &v, sizeof(float));
      }
    } else {
      google::protobuf::RepeatedField<float>* values =
          t->mutable_contents()->mutable_fp32_contents();
      values->Reserve(static_cast<int>(count));
      for (int64_t i = 0; i < count; ++i) values->AddAlreadyReserved(get(i));
    }
    return t;
  }
  template <typename Get>
  void Bool(const std::string& name, int64_t count, Get get) {
    ModelInferResponse::InferOutputTensor* t = Add(name, "BOOL", {count});
    if (raw_) {
      std::string* bytes = response_->add_raw_output_contents();
      bytes->resize(static_cast<size_t>(count));
      for (int64_t i = 0; i < count; ++i) (*bytes)[static_cast<size_t>(i)] = get(i) ? 1 : 0;
    } else {
      for (int64_t i = 0; i < count; ++i) t->mutable_contents()->add_bool_contents(get(i));
    }
  }
  // BYTES: raw, each element is its length (4 bytes, little-endian) then it.
  template <typename Get>
  void Bytes(const std::string& name, int64_t count, Get get) {
    ModelInferResponse::InferOutputTensor* t = Add(name, "BYTES", {count});
    std::string* bytes = raw_ ? response_->add_raw_output_contents() : nullptr;
    for (int64_t i = 0; i < count; ++i) {
      const std::string& v = get(i);
      if (bytes == nullptr) {
        t->mutable_contents()->add_bytes_contents(v);
        continue;
      }
      const uint32_t n = static_cast<uint32_t>(v.size());
      bytes->append(reinterpret_cast<const char*>(&n), sizeof(n));
      bytes->append(v);
    }
  }

 private:
  ModelInferResponse::InferOutputTensor* Add(const std::string& name, const char* datatype,
                                             std::initializer_list<int64_t> shape) {
    ModelInferResponse::InferOutputTensor* t = response_->add_outputs();
    t->set_name(name);
    t->set_datatype(datatype);
    t->mutable_shape()->Add(shape.begin(), shape.end());
    return t;
  }

  ModelInferResponse* const response_;
  const bool raw_;
};

}  // namespace

void Fill(const ServableModel& m, const Plan& plan, const std::vector<Matrix>& results, bool raw,
          google::protobuf::Arena* arena, ModelInferResponse* response) {
  const Model& model = *m.model;
  response->set_model_name(m.name);
  response->set_model_version(absl::StrCat(m.version));
  auto* scores = google::protobuf::Arena::CreateMessage<v1::AnomalyScoreResponse>(arena);
  auto* predictions = google::protobuf::Arena::CreateMessage<v1::PredictResponse>(arena);
  const Matrix* reconstruction = nullptr;
  std::vector<std::pair<int, const Matrix*>> layers;
  for (size_t i = 0; i < plan.ops.size(); ++i) {
    const InferenceOp& op = plan.ops[i];
    switch (op.kind) {
      case InferenceOp::Kind::kScore:
        FillScores(m, op, plan.score_options, results[i], scores);
        break;
      case InferenceOp::Kind::kPredict:
        FillPredictions(m, results[i], predictions);
        break;
      case InferenceOp::Kind::kReconstruct:
        reconstruction = &results[i];
        break;
      case InferenceOp::Kind::kEncode:
        layers.emplace_back(op.layer, &results[i]);
        break;
    }
  }
  const int64_t rows = results.empty() ? 0 : results.front().rows();
  if (scores->has_model()) {
    // Once for the request (per output, the maps cost more than the scores).
    auto& params = *response->mutable_parameters();
    params[kMetricParameter].set_string_param(v1::ScoreOptions::Metric_Name(scores->metric()));
    params["threshold"].set_double_param(scores->threshold());
  }
  const auto row_score = [scores](int64_t r) -> const v1::RowScore& {
    return scores->scores(static_cast<int>(r));
  };
  const auto row_prediction = [predictions](int64_t r) -> const v1::RowPrediction& {
    return predictions->predictions(static_cast<int>(r));
  };
  OutputWriter writer(response, raw);
  for (const Output& out : plan.outputs) {
    switch (out.kind) {
      case Kind::kLayer: {
        const Matrix* f = std::find_if(layers.begin(), layers.end(), [&](const auto& l) {
                            return l.first == out.layer;
                          })->second;
        auto* t = writer.Fp32(out.name, {f->rows(), f->cols()}, f->size(),
                              [f](int64_t i) { return f->data()[i]; });
        (*t->mutable_parameters())[kLayerParameter].set_int64_param(out.layer);
        break;
      }
      case Kind::kReconstruction:
        writer.Fp32(out.name, {reconstruction->rows(), reconstruction->cols()},
                    reconstruction->size(),
                    [reconstruction](int64_t i) { return reconstruction->data()[i]; });
        break;
      case Kind::kScore:
        writer.Fp32(out.name, {rows}, rows, [&](int64_t r) { return row_score(r).score(); });
        break;
      case Kind::kPercentile:
        writer.Fp32(out.name, {rows}, rows, [&](int64_t r) { return row_score(r).percentile(); });
        break;
      case Kind::kIsAnomaly:
        writer.Bool(out.name, rows, [&](int64_t r) { return row_score(r).is_anomaly(); });
        break;
      case Kind::kFeatureErrors: {
        const int64_t features = model.input_dim();
        writer.Fp32(out.name, {rows, features}, rows * features, [&](int64_t i) {
          return row_score(i / features).feature_errors(static_cast<int>(i % features));
        });
        break;
      }
      case Kind::kProbabilities: {
        const int64_t classes = predictions->class_names_size();
        auto* t = writer.Fp32(out.name, {rows, classes}, rows * classes, [&](int64_t i) {
          return row_prediction(i / classes).probabilities(static_cast<int>(i % classes));
        });
        (*t->mutable_parameters())["class_names"].set_string_param(
            absl::StrJoin(predictions->class_names(), ","));
        break;
      }
      case Kind::kClass:
        writer.Bytes(out.name, rows, [&](int64_t r) -> const std::string& {
          return row_prediction(r).top_class();
        });
        break;
    }
  }
}

}  // namespace strata::oip
