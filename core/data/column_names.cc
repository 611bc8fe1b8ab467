#include "core/data/column_names.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace strata {
namespace {

std::string Listed(const std::vector<std::string>& names) {
  return names.empty() ? "(none)" : absl::StrJoin(names, ", ");
}

// Names in a mismatch: a few of each kind, so that one extra column of a
// wide input is not lost among hundreds of names.
constexpr size_t kNamedColumns = 5;
// Both sets are listed whole when neither is longer than this.
constexpr size_t kListedColumns = 12;

absl::Status Mismatch(const std::string& what, const std::vector<std::string>& input_names,
                      const std::vector<std::string>& model_names) {
  std::string sets;
  if (input_names.size() <= kListedColumns && model_names.size() <= kListedColumns) {
    sets = absl::StrCat("The input's columns: ", Listed(input_names),
                        "; the model's features: ", Listed(model_names));
  } else {
    sets = absl::StrCat("The input has ", input_names.size(), " columns; the model has ",
                        model_names.size(), " features");
  }
  return absl::InvalidArgumentError(
      absl::StrCat("columns do not match the model's features: ", what, ". ", sets));
}

}  // namespace

std::string FewNames(const std::vector<std::string>& names, size_t at_most) {
  if (names.size() <= at_most) return Listed(names);
  const std::vector<std::string> first(names.begin(), names.begin() + at_most);
  return absl::StrCat(absl::StrJoin(first, ", "), " and ", names.size() - at_most, " more");
}

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
  if (!missing.empty()) {
    what.push_back(absl::StrCat("missing from the input: ", FewNames(missing, kNamedColumns)));
  }
  if (!extra.empty()) {
    what.push_back(absl::StrCat("not features of the model: ", FewNames(extra, kNamedColumns)));
    if (missing.empty()) {
      // Every feature is there: leaving the others out is the whole fix.
      if (extra.size() == 1) {
        what.back() += absl::StrCat(" (leave it out with --drop_columns ", extra[0], ")");
      } else if (extra.size() <= kNamedColumns) {
        what.back() +=
            absl::StrCat(" (leave them out with --drop_columns ", absl::StrJoin(extra, ","), ")");
      } else {
        what.back() += " (leave them out with --drop_columns NAME,NAME,...)";
      }
    } else if (!labels.empty()) {
      // Features are missing too (renamed?); a label column is still not one.
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
  // f<i> by original position, strictly increasing: a headerless CSV with
  // columns dropped (f1, f3, ...) is still unnamed.
  int64_t last = -1;
  for (const std::string& name : names) {
    int64_t position = 0;
    if (name.size() < 2 || name[0] != 'f' || (name[1] == '0' && name.size() > 2) ||
        !absl::SimpleAtoi(absl::string_view(name).substr(1), &position) ||
        !absl::ascii_isdigit(static_cast<unsigned char>(name[1])) || position <= last) {
      return false;
    }
    last = position;
  }
  return true;
}

absl::StatusOr<std::vector<std::string>> ResolveTrainingNames(
    const std::vector<std::string>& spec_names, const std::vector<std::string>& data_names,
    int64_t cols) {
  if (!data_names.empty() && static_cast<int64_t>(data_names.size()) != cols) {
    return absl::InvalidArgumentError(absl::StrCat("the rows' column_names has ", data_names.size(),
                                                   " names for ", cols, " columns"));
  }
  std::vector<std::string> names = data_names;
  if (!spec_names.empty()) {
    if (static_cast<int64_t>(spec_names.size()) != cols) {
      return absl::InvalidArgumentError(absl::StrCat("spec.feature_names has ", spec_names.size(),
                                                     " names for ", cols, " columns"));
    }
    if (!data_names.empty() && !ArePositionalNames(data_names) && spec_names != data_names) {
      // The remedy first: a long list would be clipped from the message.
      size_t f = 0;
      while (spec_names[f] == data_names[f]) ++f;
      return absl::InvalidArgumentError(absl::StrCat(
          "spec.feature_names contradict the names the data gives its columns: column ", f, " is '",
          spec_names[f], "' in spec.feature_names and '", data_names[f],
          "' in the data; leave spec.feature_names out to keep the data's names, or give the "
          "same names in the same order. spec.feature_names: ",
          Listed(spec_names), "; the data's: ", Listed(data_names)));
    }
    names = spec_names;
  }
  // Scoring by name needs every name, once.
  absl::flat_hash_set<std::string> seen;
  for (size_t c = 0; c < names.size(); ++c) {
    if (names[c].empty()) {
      return absl::InvalidArgumentError(absl::StrCat("column ", c, " has an empty name"));
    }
    if (!seen.insert(names[c]).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("column ", c, " is named '", names[c], "' as an earlier column is"));
    }
  }
  return names;
}

Matrix SelectColumns(const Matrix& values, const std::vector<int>& order) {
  Matrix out(values.rows(), static_cast<Eigen::Index>(order.size()));
  for (size_t f = 0; f < order.size(); ++f) {
    out.col(static_cast<Eigen::Index>(f)) = values.col(order[f]);
  }
  return out;
}

}  // namespace strata
