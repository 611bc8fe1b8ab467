#include "core/train/sweep.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/base/proto_json.h"
#include "core/data/class_labels.h"
#include "core/scoring/evaluation.h"
#include "core/train/train_config.h"
#include "google/protobuf/field_mask.pb.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/field_mask_util.h"
#include "google/protobuf/util/json_util.h"

namespace strata {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::util::FieldMaskUtil;

// A parameter's field, checked, with the values a trial may take (JSON).
struct Axis {
  std::string field;
  const FieldDescriptor* leaf = nullptr;
  std::vector<std::string> values;
  const v1::SweepParameter* range = nullptr;  // RANDOM with min/max instead
};

std::string ParamName(int i, const std::string& field) {
  return absl::StrCat("sweep.parameters[", i, "] (", field.empty() ? "no field" : field, ")");
}

bool IsNumeric(const FieldDescriptor* f) {
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64:
    case FieldDescriptor::CPPTYPE_FLOAT:
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return true;
    default:
      return false;
  }
}

bool IsInteger(const FieldDescriptor* f) {
  return f->cpp_type() != FieldDescriptor::CPPTYPE_FLOAT &&
         f->cpp_type() != FieldDescriptor::CPPTYPE_DOUBLE;
}

// A TrainConfig with only `field` set, to `json`.
absl::StatusOr<v1::TrainConfig> ParseSetting(const std::string& field, const std::string& json) {
  // One JSON value, nothing after it (which could set other fields).
  google::protobuf::Value value;
  if (!google::protobuf::util::JsonStringToMessage(json, &value).ok()) {
    return absl::InvalidArgumentError(absl::StrCat("value ", json, " is not one JSON value"));
  }
  if (value.has_null_value()) {
    return absl::InvalidArgumentError(absl::StrCat("value null would leave ", field,
                                                   " out, to its default; give the value itself"));
  }
  if (value.has_list_value() && value.list_value().values().empty()) {
    // It would read as left out, and quietly pick the field's default.
    return absl::InvalidArgumentError(
        absl::StrCat("value ", json, " is an empty list; give the values it should hold"));
  }
  const std::vector<std::string> parts = absl::StrSplit(field, '.');
  std::string text = json;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    text = absl::StrCat("{\"", *it, "\": ", text, "}");
  }
  v1::TrainConfig config;
  google::protobuf::util::JsonParseOptions options;
  options.case_insensitive_enum_parsing = true;  // as ParseTrainConfigJson
  const auto status = google::protobuf::util::JsonStringToMessage(text, &config, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("value ", json, " is not a valid ", field, ": ",
                                                   std::string(status.message())));
  }
  return config;
}

absl::Status Apply(const v1::SweepSetting& setting, v1::TrainConfig* config) {
  absl::StatusOr<v1::TrainConfig> value = ParseSetting(setting.field(), setting.value());
  if (!value.ok()) return value.status();
  google::protobuf::FieldMask mask;
  mask.add_paths(setting.field());
  FieldMaskUtil::MergeOptions options;
  options.set_replace_message_fields(true);
  options.set_replace_repeated_fields(true);
  FieldMaskUtil::MergeMessageTo(*value, mask, options, config);
  return absl::OkStatus();
}

absl::StatusOr<Axis> CheckParameter(int i, const v1::SweepParameter& p,
                                    v1::SweepSpec::Search search, v1::SweepObjective objective) {
  Axis axis;
  axis.field = p.field();
  const std::string name = ParamName(i, p.field());
  std::vector<const FieldDescriptor*> path;
  if (p.field().empty() ||
      !FieldMaskUtil::GetFieldDescriptors(v1::TrainConfig::descriptor(), p.field(), &path)) {
    return absl::InvalidArgumentError(
        absl::StrCat(name,
                     ": not a TrainConfig field (use proto names, '.' into messages, e.g. "
                     "optimizer.learning_rate; see proto/strata/v1/train_config.proto)"));
  }
  axis.leaf = path.back();
  // Objectives measured on the validation split: trials must share its rows
  // (validation_fraction and seed pick them) and, for the loss, its units.
  const bool split_field = p.field() == "validation_fraction" || p.field() == "seed";
  const bool unit_field = p.field() == "scaler" || p.field() == "loss";
  if ((objective == v1::VALIDATION_LOSS && (split_field || unit_field)) ||
      (objective == v1::HEAD_ACCURACY && split_field)) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": trials that differ in ", p.field(), " measure ",
                     v1::SweepObjective_Name(objective), " on ",
                     split_field ? "different validation rows" : "different units",
                     ", so it cannot compare them",
                     split_field ? " (LINEAR_PROBE_ACCURACY scores every trial on the same rows)"
                                 : "; choose another objective"));
  }
  const bool range = p.has_min() || p.has_max();
  if (p.log_scale() && !range) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": log_scale shapes a min/max range; listed values are tried as given"));
  }
  if (range) {
    if (search != v1::SweepSpec::RANDOM) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": min/max ranges are for RANDOM search; GRID takes values"));
    }
    if (!p.values().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": give values or min/max, not both"));
    }
    if (!p.has_min() || !p.has_max() || !std::isfinite(p.min()) || !std::isfinite(p.max()) ||
        p.min() > p.max()) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": a range needs finite min <= max"));
    }
    if (p.log_scale() && p.min() <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": log_scale needs min > 0"));
    }
    if (axis.leaf->is_repeated() || !IsNumeric(axis.leaf)) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": a range needs a numeric field that is not a list"));
    }
    if (IsInteger(axis.leaf)) {
      // Whole numbers a double holds exactly, and in the field's range.
      const bool narrow = axis.leaf->cpp_type() == FieldDescriptor::CPPTYPE_INT32 ||
                          axis.leaf->cpp_type() == FieldDescriptor::CPPTYPE_UINT32;
      const bool is_unsigned = axis.leaf->cpp_type() == FieldDescriptor::CPPTYPE_UINT32 ||
                               axis.leaf->cpp_type() == FieldDescriptor::CPPTYPE_UINT64;
      const double hi = narrow ? (is_unsigned ? 4294967295.0 : 2147483647.0) : 9007199254740992.0;
      const double lo = is_unsigned ? 0.0 : -hi;
      if (std::ceil(p.min()) > std::floor(p.max()) || p.min() < lo || p.max() > hi) {
        return absl::InvalidArgumentError(absl::StrCat(
            name, ": an integer field's range needs a whole number in [min, max], within ",
            absl::StrFormat("[%.0f, %.0f]", lo, hi)));
      }
    }
    axis.range = &p;
    return axis;
  }
  if (p.values().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(name, search == v1::SweepSpec::RANDOM
                                                             ? ": give values or a min/max range"
                                                             : ": give at least one value"));
  }
  for (int v = 0; v < p.values_size(); ++v) {
    absl::StatusOr<v1::TrainConfig> parsed = ParseSetting(p.field(), p.values(v));
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ", values[", v, "]: ", parsed.status().message()));
    }
    axis.values.push_back(p.values(v));
  }
  return axis;
}

std::string DrawInRange(const Axis& axis, std::mt19937_64& rng) {
  const v1::SweepParameter& p = *axis.range;
  const bool integer = IsInteger(axis.leaf);
  const double lo = integer ? std::ceil(p.min()) : p.min();
  const double hi = integer ? std::floor(p.max()) : p.max();
  if (integer && !p.log_scale()) {
    // Every whole number in the range equally likely.
    std::uniform_int_distribution<int64_t> pick(static_cast<int64_t>(lo), static_cast<int64_t>(hi));
    return absl::StrCat(pick(rng));
  }
  double x;
  if (p.log_scale()) {
    std::uniform_real_distribution<double> u(std::log(p.min()), std::log(p.max()));
    x = std::exp(u(rng));
  } else {
    std::uniform_real_distribution<double> u(p.min(), p.max());
    x = u(rng);
  }
  if (integer) return absl::StrCat(static_cast<int64_t>(std::clamp(std::round(x), lo, hi)));
  return absl::StrCat(std::clamp(x, lo, hi));
}

std::string Describe(const SweepTrialPlan& plan, int number) {
  v1::SweepTrial trial;
  trial.mutable_settings()->Add(plan.settings.begin(), plan.settings.end());
  return absl::StrCat("sweep trial ", number, " (", FormatSweepSettings(trial), ")");
}

}  // namespace

absl::StatusOr<v1::SweepSpec> ParseSweepSpecJson(absl::string_view json) {
  v1::SweepSpec sweep;
  if (absl::Status s = JsonToProto(json, "sweep", &sweep); !s.ok()) return s;
  return sweep;
}

v1::SweepObjective ResolveSweepObjective(const v1::SweepSpec& sweep, bool has_labels) {
  if (sweep.objective() != v1::SWEEP_OBJECTIVE_UNSPECIFIED) return sweep.objective();
  return has_labels ? v1::HEAD_ACCURACY : v1::VALIDATION_LOSS;
}

bool SweepTrainsHead(v1::SweepObjective objective, bool has_labels) {
  return has_labels && objective != v1::LINEAR_PROBE_ACCURACY;
}

absl::StatusOr<std::vector<SweepTrialPlan>> PlanSweep(const v1::SweepSpec& sweep,
                                                      const v1::TrainConfig& base, int input_dim,
                                                      bool has_labels) {
  const v1::SweepObjective objective = ResolveSweepObjective(sweep, has_labels);
  if (!v1::SweepObjective_IsValid(objective) || !v1::SweepSpec::Search_IsValid(sweep.search())) {
    return absl::InvalidArgumentError("sweep: unknown objective or search");
  }
  if (objective != v1::VALIDATION_LOSS && !has_labels) {
    return absl::InvalidArgumentError(
        absl::StrCat("sweep.objective ", v1::SweepObjective_Name(objective),
                     " needs class labels (spec.label_column or spec.class_labels)"));
  }
  const v1::SweepSpec::Search search =
      sweep.search() == v1::SweepSpec::RANDOM ? v1::SweepSpec::RANDOM : v1::SweepSpec::GRID;
  if (sweep.parameters().empty()) {
    return absl::InvalidArgumentError("sweep.parameters: a sweep varies at least one field");
  }
  std::vector<Axis> axes;
  for (int i = 0; i < sweep.parameters_size(); ++i) {
    absl::StatusOr<Axis> axis = CheckParameter(i, sweep.parameters(i), search, objective);
    if (!axis.ok()) return axis.status();
    for (int j = 0; j < i; ++j) {
      const std::string& a = axes[j].field;
      const std::string& b = axis->field;
      if (a == b || absl::StartsWith(a, b + ".") || absl::StartsWith(b, a + ".")) {
        return absl::InvalidArgumentError(absl::StrCat(ParamName(i, b), ": overlaps ",
                                                       ParamName(j, a), "; vary each field once"));
      }
    }
    axes.push_back(*std::move(axis));
  }

  // Every trial's settings, in order.
  std::vector<std::vector<v1::SweepSetting>> settings;
  if (search == v1::SweepSpec::GRID) {
    if (sweep.has_trials()) {
      return absl::InvalidArgumentError(
          "sweep.trials is for RANDOM search; a GRID tries every combination of the values");
    }
    if (sweep.has_seed()) {
      return absl::InvalidArgumentError(
          "sweep.seed seeds RANDOM search's draws; a GRID draws nothing (vary the training "
          "seed with a parameter on the field seed)");
    }
    int64_t total = 1;
    for (const Axis& axis : axes) {
      total *= static_cast<int64_t>(axis.values.size());
      if (total > kMaxSweepTrials) {
        return absl::InvalidArgumentError(
            absl::StrCat("sweep: the grid has more than ", kMaxSweepTrials,
                         " combinations; use fewer values, or RANDOM search with trials"));
      }
    }
    // The first parameter varies slowest, as in itertools.product.
    for (int64_t t = 0; t < total; ++t) {
      std::vector<v1::SweepSetting> trial(axes.size());
      int64_t rest = t;
      for (int a = static_cast<int>(axes.size()) - 1; a >= 0; --a) {
        const int64_t n = static_cast<int64_t>(axes[a].values.size());
        trial[a].set_field(axes[a].field);
        trial[a].set_value(axes[a].values[rest % n]);
        rest /= n;
      }
      settings.push_back(std::move(trial));
    }
  } else {
    const int trials = sweep.has_trials() ? sweep.trials() : kDefaultRandomTrials;
    if (trials < 1 || trials > kMaxSweepTrials) {
      return absl::InvalidArgumentError(
          absl::StrCat("sweep.trials must be in [1, ", kMaxSweepTrials, "], not ", trials));
    }
    std::mt19937_64 rng(sweep.has_seed() ? sweep.seed() : 1);
    for (int t = 0; t < trials; ++t) {
      std::vector<v1::SweepSetting> trial(axes.size());
      for (size_t a = 0; a < axes.size(); ++a) {
        trial[a].set_field(axes[a].field);
        if (axes[a].range != nullptr) {
          trial[a].set_value(DrawInRange(axes[a], rng));
        } else {
          std::uniform_int_distribution<size_t> pick(0, axes[a].values.size() - 1);
          trial[a].set_value(axes[a].values[pick(rng)]);
        }
      }
      settings.push_back(std::move(trial));
    }
  }

  const bool trains_head = SweepTrainsHead(objective, has_labels);
  const std::vector<std::string> declared = DeclaredClassNames(base);
  std::vector<SweepTrialPlan> plans;
  for (size_t t = 0; t < settings.size(); ++t) {
    SweepTrialPlan plan;
    plan.config = base;
    plan.settings = std::move(settings[t]);
    const std::string what = Describe(plan, static_cast<int>(t) + 1);
    for (const v1::SweepSetting& s : plan.settings) {
      if (absl::Status status = Apply(s, &plan.config); !status.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(what, ": ", status.message()));
      }
    }
    if (DeclaredClassNames(plan.config) != declared) {
      return absl::InvalidArgumentError(absl::StrCat(
          what,
          ": changes supervised.class_names; the job's labels are indexed once, against "
          "the base config's classes"));
    }
    absl::StatusOr<v1::TrainConfig> resolved = ResolveTrainConfig(plan.config, input_dim);
    if (!resolved.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": ", resolved.status().message()));
    }
    if (absl::Status s = CheckTrainingEpochs(*resolved, trains_head); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": ", s.message()));
    }
    if (objective != v1::LINEAR_PROBE_ACCURACY && resolved->validation_fraction() <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": the objective ", v1::SweepObjective_Name(objective),
                       " is measured on validation rows, and validation_fraction is 0"));
    }
    plans.push_back(std::move(plan));
  }
  return plans;
}

bool SweepBetter(v1::SweepObjective objective, double a, double b) {
  return objective == v1::VALIDATION_LOSS ? a < b : a > b;
}

std::vector<int64_t> ProbeSampleRows(const std::vector<int>& classes) {
  std::vector<int64_t> labelled;
  for (size_t r = 0; r < classes.size(); ++r) {
    if (classes[r] != kUnlabelled) labelled.push_back(static_cast<int64_t>(r));
  }
  if (labelled.size() > static_cast<size_t>(kMaxProbeRows)) {
    // The same sample for every trial: their scores differ by the codes only.
    std::mt19937_64 rng(1);
    std::shuffle(labelled.begin(), labelled.end(), rng);
    labelled.resize(kMaxProbeRows);
    std::sort(labelled.begin(), labelled.end());
  }
  return labelled;
}

absl::Status ScoreSweepTrial(v1::SweepObjective objective, const Model& model, const Matrix& rows,
                             const std::vector<int>& classes, v1::SweepTrial* trial) {
  const v1::TrainingSummary& summary = model.info().summary;
  trial->set_epochs(summary.epochs());
  trial->set_seconds(summary.seconds());
  if (summary.has_final_validation_loss()) {
    trial->set_validation_loss(summary.final_validation_loss());
  }
  if (summary.classifier().has_validation_accuracy()) {
    trial->set_head_accuracy(summary.classifier().validation_accuracy());
  }
  switch (objective) {
    case v1::VALIDATION_LOSS:
      if (!trial->has_validation_loss()) {
        return absl::FailedPreconditionError(
            "no validation loss: the trial had no validation rows");
      }
      trial->set_objective(trial->validation_loss());
      return absl::OkStatus();
    case v1::HEAD_ACCURACY:
      if (!trial->has_head_accuracy()) {
        return absl::FailedPreconditionError(
            "no head accuracy: no labelled row fell in the validation split");
      }
      trial->set_objective(trial->head_accuracy());
      return absl::OkStatus();
    case v1::LINEAR_PROBE_ACCURACY:
      break;
    default:
      return absl::InvalidArgumentError("unknown sweep objective");
  }
  if (classes.size() != static_cast<size_t>(rows.rows())) {
    return absl::InvalidArgumentError(
        absl::StrCat("the probe has ", classes.size(), " labels for ", rows.rows(), " rows"));
  }
  const std::vector<int64_t> labelled = ProbeSampleRows(classes);
  Matrix sample(static_cast<Eigen::Index>(labelled.size()), rows.cols());
  std::vector<int> labels(labelled.size());
  for (size_t i = 0; i < labelled.size(); ++i) {
    sample.row(static_cast<Eigen::Index>(i)) = rows.row(labelled[i]);
    labels[i] = classes[labelled[i]];
  }
  absl::StatusOr<Matrix> codes = model.Encode(sample, model.depth());
  if (!codes.ok()) return codes.status();
  absl::StatusOr<ProbeResult> probe = LinearProbe(*codes, labels, ProbeOptions());
  if (!probe.ok()) return probe.status();
  trial->set_probe_accuracy(probe->mean_accuracy);
  trial->set_objective(probe->mean_accuracy);
  return absl::OkStatus();
}

std::string FormatSweepSettings(const v1::SweepTrial& trial) {
  return absl::StrJoin(trial.settings(), " ", [](std::string* out, const v1::SweepSetting& s) {
    absl::StrAppend(out, s.field(), "=", s.value());
  });
}

}  // namespace strata
