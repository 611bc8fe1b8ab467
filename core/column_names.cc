#include "core/column_names.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace strata {
namespace {

std::string Listed(const std::vector<std::string>& names) {
  return names.empty() ? "(none)" : absl::StrJoin(names, ", ");
}

absl::Status Mismatch(const std::string& what, const std::vector<std::string>& input_names,
                      const std::vector<std::string>& model_names) {
  return absl::InvalidArgumentError(
      absl::StrCat("columns do not match the model's features: ", what, ". The input's columns: ",
                   Listed(input_names), "; the model's features: ", Listed(model_names)));
}

}  // namespace

bool LooksLikeLabelColumn(const std::string& name) {
  static const auto* const kLabelNames =
      new absl::flat_hash_set<std::string>({"label", "labels", "class", "target", "y", "anomaly",
                                            "is_anomaly", "outlier", "is_outlier"});
  return kLabelNames->contains(absl::AsciiStrToLower(name));
}

absl::StatusOr<std::vector<int>> MapColumnsByName(const std::vector<std::string>& input_names,
                                                  const std::vector<std::string>& model_names) {
  absl::flat_hash_map<std::string, int> column;
  for (size_t c = 0; c < input_names.size(); ++c) {
    if (!column.emplace(input_names[c], static_cast<int>(c)).second) {
      return Mismatch(absl::StrCat("the input names column '", input_names[c], "' twice"),
                      input_names, model_names);
    }
  }
  std::vector<int> order;
  std::vector<std::string> missing, extra;
  absl::flat_hash_set<std::string> wanted(model_names.begin(), model_names.end());
  for (const std::string& name : model_names) {
    const auto it = column.find(name);
    if (it == column.end()) {
      missing.push_back(name);
    } else {
      order.push_back(it->second);
    }
  }
  std::vector<std::string> labels;
  for (const std::string& name : input_names) {
    if (!wanted.contains(name)) {
      extra.push_back(name);
      if (LooksLikeLabelColumn(name)) labels.push_back(name);
    }
  }
  if (missing.empty() && extra.empty()) return order;
  std::vector<std::string> what;
  if (!missing.empty()) what.push_back(absl::StrCat("missing from the input: ", Listed(missing)));
  if (!extra.empty()) {
    what.push_back(absl::StrCat("not features of the model: ", Listed(extra)));
    if (!labels.empty()) {
      what.back() += absl::StrCat(" (leave a label column out with --drop_columns ",
                                  absl::StrJoin(labels, ","), ")");
    }
  }
  return Mismatch(absl::StrJoin(what, "; "), input_names, model_names);
}

absl::Status CheckColumnNames(const std::vector<std::string>& names,
                              const std::vector<std::string>& model_names) {
  if (names == model_names) return absl::OkStatus();
  absl::StatusOr<std::vector<int>> order = MapColumnsByName(names, model_names);
  if (!order.ok()) return order.status();
  // The same names in another order.
  for (size_t f = 0; f < model_names.size(); ++f) {
    if (names[f] != model_names[f]) {
      return Mismatch(
          absl::StrCat("column ", f, " is '", names[f], "' where the model has '", model_names[f],
                       "'; send the columns in the model's order (the strata CLI and "
                       "Python client order them by name)"),
          names, model_names);
    }
  }
  return absl::OkStatus();
}

bool ArePositionalNames(const std::vector<std::string>& names) {
  for (size_t c = 0; c < names.size(); ++c) {
    if (names[c] != absl::StrCat("f", c)) return false;
  }
  return true;
}

absl::StatusOr<std::vector<std::string>> ResolveTrainingNames(
    const std::vector<std::string>& spec_names, const std::vector<std::string>& data_names,
    int64_t cols) {
  if (!data_names.empty() && static_cast<int64_t>(data_names.size()) != cols) {
    return absl::InvalidArgumentError(
        absl::StrCat("the data names ", data_names.size(), " columns but has ", cols));
  }
  if (spec_names.empty()) return data_names;
  if (static_cast<int64_t>(spec_names.size()) != cols) {
    return absl::InvalidArgumentError(absl::StrCat("spec.feature_names has ", spec_names.size(),
                                                   " names for ", cols, " columns"));
  }
  if (data_names.empty() || ArePositionalNames(data_names) || spec_names == data_names) {
    return spec_names;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "spec.feature_names (", Listed(spec_names),
      ") are not the names the data gives its columns (", Listed(data_names),
      "); leave spec.feature_names out to keep the data's names, or give the same names in the "
      "same order"));
}

Matrix SelectColumns(const Matrix& values, const std::vector<int>& order) {
  Matrix out(values.rows(), static_cast<Eigen::Index>(order.size()));
  for (size_t f = 0; f < order.size(); ++f) {
    out.col(static_cast<Eigen::Index>(f)) = values.col(order[f]);
  }
  return out;
}

}  // namespace strata
