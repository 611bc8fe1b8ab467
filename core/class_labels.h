// Class labels of rows: from text (a CSV column, or a label vector on the
// wire) to class indices, with errors that name the row. IndexClassLabels
// decides the classes of training rows; MatchClassLabels reads labelled
// rows against a trained classifier's classes, to measure it.
//
//   absl::StatusOr<ClassLabels> labels = IndexClassLabels(texts, declared, lines);
//   // labels->names: "0", "1", ...; labels->classes[r]: index, or kUnlabelled.
//   absl::StatusOr<std::vector<int>> truth = MatchClassLabels(texts, head_names, lines);
#ifndef STRATA_CORE_CLASS_LABELS_H_
#define STRATA_CORE_CLASS_LABELS_H_

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

// The classes `config` declares (supervised.class_names, which no default
// fills in), for IndexClassLabels; empty: the labels decide.
std::vector<std::string> DeclaredClassNames(const v1::TrainConfig& config);

// A declared class list (supervised.class_names): empty, or 2 to
// kMaxClasses distinct names, none empty or padded with spaces.
// InvalidArgument naming the field otherwise.
absl::Status ValidateClassNames(absl::Span<const std::string> names);

// `labels` holds one label per row, "" for an unlabelled row (surrounding
// spaces are ignored). The classes are `declared` in its order when it is
// not empty, else the distinct labels sorted (as numbers when every one is
// an integer, so that "10" follows "9"). InvalidArgument, naming the row
// (or its line, when `lines` gives each row's 1-based line), for a label
// outside `declared`; also when no row is labelled, when there are fewer than
// 2 or more than kMaxClasses classes, or when `declared` fails
// ValidateClassNames.
absl::StatusOr<ClassLabels> IndexClassLabels(absl::Span<const std::string> labels,
                                             absl::Span<const std::string> declared,
                                             absl::Span<const int> lines = {});

// Whether a label cell stands for a missing value: empty, or NA, NaN, N/A,
// null or None in any case (what pandas, R and spreadsheets write), with
// surrounding spaces ignored.
bool IsMissingLabel(absl::string_view label);

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

#endif  // STRATA_CORE_CLASS_LABELS_H_
