// Reads numeric CSV data into a batch.
//
//   CsvOptions options;
//   options.drop_columns = {"label"};
//   absl::StatusOr<CsvTable> table = ReadCsvFile("data/thyroid.csv", options);
//   // table.values: rows x features; table.column_names: "f0", "f1", ...
//
// A header row is detected or can be forced. Detected, the first line is a
// header when none of its cells is a number and data when all are; a first
// line with both is an error naming the cells (a typo in a headerless file's
// first row must not turn that row into a header). A UTF-8 byte-order mark
// is skipped. Every data line becomes one row, or the parse fails. Errors
// name the 1-based line and column: non-numeric cells, empty cells, NaN or
// Inf, ragged rows, unknown columns to drop.
#ifndef STRATA_CORE_DATA_CSV_READER_H_
#define STRATA_CORE_DATA_CSV_READER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/nn/matrix.h"

namespace strata {

struct CsvOptions {
  enum class Header { kDetect, kPresent, kAbsent };
  // Whether the first line names the columns. Default: detect.
  Header header = Header::kDetect;
  // Field separator. Default ','.
  char delimiter = ',';
  // Columns left out of `values`, by name (header names, or f0, f1, ...
  // without a header). Their cells need not be numeric. Default: none.
  std::vector<std::string> drop_columns;
  // Largest table, in values (rows x kept columns), checked before the
  // values are allocated: ResourceExhausted beyond it. Default 0: no limit.
  int64_t max_values = 0;
  // A column of class labels (by name, as drop_columns), kept as text in
  // CsvTable::labels and left out of `values`; an empty cell, or a
  // missing-value marker such as NA (IsMissingLabel, core/data/class_labels.h),
  // is an unlabelled row. Default: none.
  std::string label_column;
};

struct CsvTable {
  // Whether the first line was a header (else the names are made up).
  bool has_header = false;
  // Names of the kept columns: from the header, or f<i> by position.
  std::vector<std::string> column_names;
  Matrix values;  // rows x kept columns
  // With options.label_column: each row's label cell, unquoted and trimmed.
  std::vector<std::string> labels;
  // The 1-based line each row came from, for messages about a row.
  std::vector<int> lines;
};

// "auto", "yes" or "no", as the CLI's --header flag takes it.
absl::StatusOr<CsvOptions::Header> ParseCsvHeaderMode(absl::string_view mode);

absl::StatusOr<CsvTable> ParseCsv(absl::string_view text, const CsvOptions& options);
// As ParseCsv, with errors prefixed by the path.
absl::StatusOr<CsvTable> ReadCsvFile(const std::string& path, const CsvOptions& options);

// About the peak memory ReadCsvFile needs for the file at `path`: its text,
// a float per cell and each line's bookkeeping, the lines and cells per
// byte taken from the file's first 64 KiB. A file of short lines (one
// column) needs many times its size, a wide one about three times. Errors:
// the file cannot be read.
absl::StatusOr<int64_t> EstimateCsvReadBytes(const std::string& path, char delimiter = ',');

// Shards of one data set must have the same columns, by name and in order:
// InvalidArgument naming both files' columns when `file`'s `names` differ
// from `first`'s, or naming the shard without a header line when one has
// positional names (f0, f1, ...) and the other has not.
absl::Status CheckShardColumns(const std::string& first,
                               const std::vector<std::string>& first_names, const std::string& file,
                               const std::vector<std::string>& names);

}  // namespace strata

#endif  // STRATA_CORE_DATA_CSV_READER_H_
