// Matching a batch's named columns to a model's features, by name.
//
// Records read from a CSV carry a header; a model knows the names of the
// features it was trained on. Matching by position alone silently scores
// the wrong features when a file's columns come in another order, so
// clients that have names map them, and the server checks them.
//
//   absl::StatusOr<std::vector<int>> order = MapColumnsByName(header, model_names);
//   // model feature f is input column (*order)[f]
//   absl::Status s = CheckColumnNames(request_names, model_names);  // same, same order
#ifndef STRATA_CORE_DATA_COLUMN_NAMES_H_
#define STRATA_CORE_DATA_COLUMN_NAMES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/nn/matrix.h"

namespace strata {

// For each of `model_names`, the index of the column of `input_names` that
// holds it. InvalidArgument when a name is missing, left over or repeated:
// it names a few of the missing and left-over columns (FewNames), then
// lists both sets when they are short, else counts them. Left-over columns
// get a hint to drop them (--drop_columns) when no feature is missing;
// otherwise only those that look like a label ("label", "class", ...) do.
absl::StatusOr<std::vector<int>> MapColumnsByName(const std::vector<std::string>& input_names,
                                                  const std::vector<std::string>& model_names);

// OK when `names` are `model_names` in the same order; otherwise
// InvalidArgument naming the difference and listing both.
absl::Status CheckColumnNames(const std::vector<std::string>& names,
                              const std::vector<std::string>& model_names);

// The feature names a model trained on data with `data_names` records,
// given the names a training spec asks for (`spec_names`, may be empty).
// Data that names its columns (a CSV header, DenseMatrix.column_names) keeps
// its names: spec names that differ from them, in content or order, are
// InvalidArgument listing both, since the model would otherwise record
// names its columns do not have and every later by-name match would be
// wrong. Unnamed data (empty `data_names`, or the positional f0, f1, ... a
// headerless CSV gets, gaps from dropped columns included) takes the spec's
// names, which must number `cols`. Empty or repeated names are refused (a
// model could not be scored by name). Empty when neither names the columns.
absl::StatusOr<std::vector<std::string>> ResolveTrainingNames(
    const std::vector<std::string>& spec_names, const std::vector<std::string>& data_names,
    int64_t cols);

// Whether `names` are the positional names of unnamed columns: f<i>, i
// strictly increasing (f0, f1, ..., or f1, f3 after columns were dropped).
bool ArePositionalNames(const std::vector<std::string>& names);

// The columns of `values` in `order` (as MapColumnsByName returns).
Matrix SelectColumns(const Matrix& values, const std::vector<int>& order);

// At most `at_most` of `names`, then how many more: "a, b, c and 17 more";
// "(none)" for none. For messages, where hundreds of names hide the point.
std::string FewNames(const std::vector<std::string>& names, size_t at_most);

// Whether a column name usually holds labels rather than features.
bool LooksLikeLabelColumn(const std::string& name);

}  // namespace strata

#endif  // STRATA_CORE_DATA_COLUMN_NAMES_H_
