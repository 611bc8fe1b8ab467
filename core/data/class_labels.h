// Class labels of rows: from text (a CSV column, or a label vector on the
// wire) to class indices, with errors that name the row. IndexClassLabels
// decides the classes of training rows; MatchClassLabels reads labelled
// rows against a trained classifier's classes, to measure it.
//
//   absl::StatusOr<ClassLabels> labels = IndexClassLabels(texts, declared, lines);
//   // labels->names: "0", "1", ...; labels->classes[r]: index, or kUnlabelled.
//
// A missing label is written many ways (R and pandas write NA, databases
// null, Python None): IsMissingLabel is the one place that says which, and
// every path that reads labels (a CSV column, the wire, the CLI) goes
// through IndexClassLabels, which asks it. (Read as a class, NA became one
// and Predict answered it.)
//   absl::StatusOr<std::vector<int>> truth = MatchClassLabels(texts, head_names, lines);
#ifndef STRATA_CORE_DATA_CLASS_LABELS_H_
#define STRATA_CORE_DATA_CLASS_LABELS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "strata/v1/train_config.pb.h"

namespace strata {

// A row without a label.
inline constexpr int kUnlabelled = -1;
// The most classes a head may have.
inline constexpr int kMaxClasses = 10000;

struct ClassLabels {
  std::vector<std::string> names;  // The classes, in head output order.
  std::vector<int> classes;        // Per row: an index into names, or kUnlabelled.
};

// Whether a label cell says "no label": empty, or one of the missing-value
// markers NA, NaN, N/A, null, None, <NA> (pandas' text for pd.NA) and #N/A
// (a spreadsheet's), in any case; surrounding spaces are ignored.
bool IsMissingLabel(absl::string_view label);

// The classes `config` declares (supervised.class_names, which no default
// fills in), for IndexClassLabels; empty: the labels decide.
std::vector<std::string> DeclaredClassNames(const v1::TrainConfig& config);

// A declared class list (supervised.class_names): empty, or 2 to
// kMaxClasses distinct names, none empty or padded with spaces.
// InvalidArgument naming the field otherwise.
absl::Status ValidateClassNames(absl::Span<const std::string> names);

// `labels` holds one label per row, "" (or another IsMissingLabel marker)
// for an unlabelled row; surrounding spaces are ignored. A marker that
// `declared` lists, spelt as there, is that class instead (a class really
// named "None"). The classes are `declared` in its order when it is
// not empty, else the distinct labels sorted (as numbers when every one is
// an integer, so that "10" follows "9"). InvalidArgument, naming the row
// (or its line, when `lines` gives each row's 1-based line), for a label
// outside `declared`; also when no row is labelled, when there are fewer than
// 2 or more than kMaxClasses classes, or when `declared` fails
// ValidateClassNames.
absl::StatusOr<ClassLabels> IndexClassLabels(absl::Span<const std::string> labels,
                                             absl::Span<const std::string> declared,
                                             absl::Span<const int> lines = {});

// A warning for the training summary when the labels look like a
// missing-value marker (a "?", a -1) read as a class: one class holds more
// than half of the labelled rows while fewer than half of all `rows` are
// labelled. `class_counts[k]` is the labelled rows of `class_names[k]`.
// nullopt when the labels look ordinary.
std::optional<std::string> DominantClassWarning(absl::Span<const int64_t> class_counts,
                                                absl::Span<const std::string> class_names,
                                                int64_t rows);
// Each row's class among `names` (a trained classifier's classes, in its
// output order): the index of the name its label equals (surrounding spaces
// ignored), or kUnlabelled for a missing value (IsMissingLabel) that is not
// itself one of the names. InvalidArgument naming the row (its line, when
// `lines` gives each row's 1-based line), the label and the names for any
// other label.
absl::StatusOr<std::vector<int>> MatchClassLabels(absl::Span<const std::string> labels,
                                                  absl::Span<const std::string> names,
                                                  absl::Span<const int> lines = {});

}  // namespace strata

#endif  // STRATA_CORE_DATA_CLASS_LABELS_H_
