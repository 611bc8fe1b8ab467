#include "core/data/class_labels.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace strata {
namespace {

std::string Row(size_t r, absl::Span<const int> lines) {
  return r < lines.size() ? absl::StrCat("line ", lines[r]) : absl::StrCat("row ", r);
}

// The names, shortened for a message when there are many.
std::string NameList(absl::Span<const std::string> names) {
  constexpr size_t kShown = 20;
  if (names.size() <= kShown) return absl::StrJoin(names, ", ");
  return absl::StrCat(absl::StrJoin(names.begin(), names.begin() + kShown, ", "), ", ... (",
                      names.size(), " in all)");
}

// InvalidArgument for a class name that would break a CSV line or header
// (strata predict writes them): a comma, a quote or a control character.
absl::Status CheckClassName(absl::string_view name) {
  for (const char ch : name) {
    if (ch == ',' || ch == '"' || static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) {
      return absl::InvalidArgumentError(absl::StrCat(
          "class '", absl::CHexEscape(name),
          "' has a comma, a quote or a control character, which class names cannot hold (they "
          "head the columns of strata predict's CSV)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool IsMissingLabel(absl::string_view label) {
  // The markers R, pandas (read_csv's defaults; str(pd.NA) is "<NA>"),
  // Python, SQL exports and spreadsheets write most. A rarer one (pandas'
  // "-1.#IND") is still read as a class, which DominantClassWarning may catch.
  static constexpr absl::string_view kMarkers[] = {"NA",   "NaN",  "N/A", "null",
                                                   "None", "<NA>", "#N/A"};
  label = absl::StripAsciiWhitespace(label);
  if (label.empty()) return true;
  for (absl::string_view marker : kMarkers) {
    if (absl::EqualsIgnoreCase(label, marker)) return true;
  }
  return false;
}

std::vector<std::string> DeclaredClassNames(const v1::TrainConfig& config) {
  return {config.supervised().class_names().begin(), config.supervised().class_names().end()};
}

absl::Status ValidateClassNames(absl::Span<const std::string> names) {
  if (names.size() == 1 || names.size() > static_cast<size_t>(kMaxClasses)) {
    return absl::InvalidArgumentError(absl::StrCat("supervised.class_names lists ", names.size(),
                                                   " classes; a classifier takes 2 to ",
                                                   kMaxClasses));
  }
  absl::flat_hash_set<absl::string_view> seen;
  for (const std::string& name : names) {
    if (name.empty() || absl::StripAsciiWhitespace(name) != name) {
      return absl::InvalidArgumentError(absl::StrCat("supervised.class_names: '", name,
                                                     "' is empty or starts or ends with spaces"));
    }
    if (!seen.insert(name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("supervised.class_names names '", name, "' twice"));
    }
    if (absl::Status s = CheckClassName(name); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("supervised.class_names: ", s.message()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ClassLabels> IndexClassLabels(absl::Span<const std::string> labels,
                                             absl::Span<const std::string> declared,
                                             absl::Span<const int> lines) {
  if (absl::Status s = ValidateClassNames(declared); !s.ok()) return s;
  ClassLabels out;
  absl::flat_hash_map<std::string, int> index;
  for (const std::string& name : declared) {
    index.emplace(name, static_cast<int>(out.names.size()));
    out.names.push_back(name);
  }
  const bool fixed = !declared.empty();
  if (!fixed) {
    for (const std::string& label : labels) {
      if (IsMissingLabel(label)) continue;
      const std::string trimmed(absl::StripAsciiWhitespace(label));
      if (index.emplace(trimmed, 0).second) out.names.push_back(trimmed);
    }
    // Numbers by value: "3", "3.0" and "03" are one number.
    std::vector<std::pair<double, std::string>> numbers(out.names.size());
    bool numeric = true;
    for (size_t i = 0; i < out.names.size() && numeric; ++i) {
      numbers[i].second = out.names[i];
      numeric = absl::SimpleAtod(out.names[i], &numbers[i].first) &&
                std::isfinite(numbers[i].first);
    }
    if (numeric) {
      std::sort(numbers.begin(), numbers.end());
      // "1" and "01" (or "1.0") would be two classes of one number, in no
      // set order.
      for (size_t i = 1; i < numbers.size(); ++i) {
        if (numbers[i - 1].first == numbers[i].first) {
          return absl::InvalidArgumentError(
              absl::StrCat("the labels '", numbers[i - 1].second, "' and '", numbers[i].second,
                           "' are the number ", numbers[i].first,
                           " written two ways; write each class one way"));
        }
      }
      for (size_t i = 0; i < numbers.size(); ++i) out.names[i] = std::move(numbers[i].second);
    } else {
      std::sort(out.names.begin(), out.names.end());
    }
    for (size_t i = 0; i < out.names.size(); ++i) index[out.names[i]] = static_cast<int>(i);
    for (size_t r = 0; r < labels.size(); ++r) {
      if (absl::Status s = CheckClassName(absl::StripAsciiWhitespace(labels[r])); !s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(Row(r, lines), ": ", s.message()));
      }
    }
  }
  out.classes.reserve(labels.size());
  size_t labelled = 0;
  for (size_t r = 0; r < labels.size(); ++r) {
    const std::string trimmed(absl::StripAsciiWhitespace(labels[r]));
    const auto it = index.find(trimmed);
    // A declared class named like a marker is that class (index holds only
    // declared names or labels that are not markers).
    if (it == index.end() && IsMissingLabel(trimmed)) {
      out.classes.push_back(kUnlabelled);
      continue;
    }
    if (it == index.end()) {
      return absl::InvalidArgumentError(absl::StrCat(Row(r, lines), ": class '", trimmed,
                                                     "' is not one of supervised.class_names (",
                                                     NameList(out.names), ")"));
    }
    out.classes.push_back(it->second);
    ++labelled;
  }
  if (labelled == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "none of the ", labels.size(),
        " rows has a class label (every label is empty or a missing-value marker such as NA)"));
  }
  if (out.names.size() < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("the labels name ", out.names.size(), " class ('", NameList(out.names),
                     "'); a classifier needs at least 2 (list them in supervised.class_names)"));
  }
  if (out.names.size() > static_cast<size_t>(kMaxClasses)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the labels name ", out.names.size(), " classes; at most ", kMaxClasses, " are taken"));
  }
  return out;
}

std::optional<std::string> DominantClassWarning(absl::Span<const int64_t> class_counts,
                                                absl::Span<const std::string> class_names,
                                                int64_t rows) {
  int64_t labelled = 0;
  size_t top = 0;
  for (size_t k = 0; k < class_counts.size(); ++k) {
    labelled += class_counts[k];
    if (class_counts[k] > class_counts[top]) top = k;
  }
  // Integer halves: exactly half is not "most".
  if (labelled == 0 || top >= class_names.size() || 2 * labelled >= rows ||
      2 * class_counts[top] <= labelled) {
    return std::nullopt;
  }
  const auto percent = [](int64_t part, int64_t whole) {
    return 100.0 * static_cast<double>(part) / static_cast<double>(whole);
  };
  return absl::StrFormat(
      "class '%s' holds %d of the %d labelled rows (%.1f%%) while %d of the %d rows (%.1f%%) "
      "are unlabelled: check that '%s' is a class and not a missing-value marker read as one "
      "(cells that are empty, NA, NaN, N/A, null or None are read as unlabelled: write a "
      "missing label so, or list the real classes in supervised.class_names, which refuses "
      "any other label)",
      class_names[top], class_counts[top], labelled, percent(class_counts[top], labelled),
      rows - labelled, rows, percent(rows - labelled, rows), class_names[top]);
}

absl::StatusOr<std::vector<int>> MatchClassLabels(absl::Span<const std::string> labels,
                                                  absl::Span<const std::string> names,
                                                  absl::Span<const int> lines) {
  absl::flat_hash_map<absl::string_view, int> index;
  for (size_t i = 0; i < names.size(); ++i) index.emplace(names[i], static_cast<int>(i));
  std::vector<int> classes;
  classes.reserve(labels.size());
  for (size_t r = 0; r < labels.size(); ++r) {
    const absl::string_view label = absl::StripAsciiWhitespace(labels[r]);
    // A class named "None" is that class, not a missing value.
    const auto it = index.find(label);
    if (it != index.end()) {
      classes.push_back(it->second);
    } else if (IsMissingLabel(label)) {
      classes.push_back(kUnlabelled);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(Row(r, lines), ": the label '", absl::CHexEscape(label),
                       "' is not one of the model's classes (", NameList(names), ")"));
    }
  }
  return classes;
}

}  // namespace strata
