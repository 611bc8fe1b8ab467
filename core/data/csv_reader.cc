#include "core/data/csv_reader.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <fstream>
#include <new>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/base/file_util.h"
#include "core/data/column_names.h"

namespace strata {
namespace {

absl::string_view Unquote(absl::string_view cell) {
  cell = absl::StripAsciiWhitespace(cell);
  if (cell.size() >= 2 && cell.front() == '"' && cell.back() == '"') {
    cell = cell.substr(1, cell.size() - 2);
  }
  return cell;
}

bool IsNumber(absl::string_view cell) {
  float v;
  return absl::SimpleAtof(Unquote(cell), &v);
}

std::string ColumnLabel(int col, const std::vector<std::string>& names) {
  return absl::StrCat("column ", col + 1, " (", names[col], ")");
}

// A non-blank line and its 1-based line number.
using NumberedLine = std::pair<int, absl::string_view>;

// Pairs each non-blank line with its 1-based line number (split lazily: no
// vector of every line besides this one, see EstimateCsvReadBytes).
std::vector<NumberedLine> NonBlankLines(absl::string_view text) {
  std::vector<NumberedLine> rows;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    rows.emplace_back(line_no, line);
  }
  return rows;
}

// Whether the first line (`first`, its cells, at `line_no`) is a header.
absl::StatusOr<bool> IsHeader(const std::vector<absl::string_view>& first, int line_no,
                              CsvOptions::Header mode) {
  if (mode != CsvOptions::Header::kDetect) return mode == CsvOptions::Header::kPresent;
  // A header names every column; a data row has numbers. A first line with
  // both is neither, and guessing either way loses a row or mislabels the
  // columns: refuse and name the cells.
  int text_cell = -1, number_cell = -1;
  for (int c = 0; c < static_cast<int>(first.size()); ++c) {
    (IsNumber(first[c]) ? number_cell : text_cell) = c;
  }
  if (text_cell >= 0 && number_cell >= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "line ", line_no, ", column ", text_cell + 1, ": '", Unquote(first[text_cell]),
        "' is not a number, but column ", number_cell + 1, " ('", Unquote(first[number_cell]),
        "') is: the first line is neither a header (names only) nor a row of numbers. Fix the "
        "cell, or say whether the first line is a header (--header yes|no)"));
  }
  return number_cell < 0;
}

// Clears keep[c] for each column options.drop_columns names.
absl::Status MarkDroppedColumns(const std::vector<std::string>& names, bool has_header,
                                const CsvOptions& options, std::vector<bool>* keep) {
  const int cols = static_cast<int>(names.size());
  for (const std::string& drop : options.drop_columns) {
    bool found = false;
    for (int c = 0; c < cols; ++c) {
      if (names[c] == drop) (*keep)[c] = false, found = true;
    }
    if (!found && !has_header) {
      // Named columns cannot be found in a file without names: say that,
      // not which names it lacks (a headerless shard among named ones).
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot drop column '", drop, "': the file has no header line (",
          options.header == CsvOptions::Header::kAbsent ? "--header no"
                                                        : "its first line is a row of numbers",
          "), so its columns are named by position, f0 to f", cols - 1,
          "; give it the header line, or drop a column by position (f<i>, counting from f0)"));
    }
    if (!found) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot drop column '", drop, "': the columns are ", absl::StrJoin(names, ", ")));
    }
  }
  return absl::OkStatus();
}

// The index of the column named `label_column`, or -1 when it is empty.
absl::StatusOr<int> FindLabelColumn(const std::vector<std::string>& names,
                                    const std::string& label_column) {
  if (label_column.empty()) return -1;
  int label_col = -1;
  for (int c = 0; c < static_cast<int>(names.size()); ++c) {
    if (names[c] != label_column) continue;
    if (label_col >= 0) {
      // Taking one would leave the other among the features.
      return absl::InvalidArgumentError(absl::StrCat("label column '", label_column,
                                                     "' names columns ", label_col + 1, " and ",
                                                     c + 1, "; rename one"));
    }
    label_col = c;
  }
  if (label_col < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "no label column '", label_column, "': the columns are ", absl::StrJoin(names, ", ")));
  }
  return label_col;
}

// Which columns a table takes, decided from its first line.
struct ColumnLayout {
  bool has_header = false;
  std::vector<std::string> names;  // Every column's, in file order.
  std::vector<int> kept;           // The columns that become `values`, in order.
  int label_col = -1;              // options.label_column's, or -1.
};

absl::StatusOr<ColumnLayout> LayOutColumns(const NumberedLine& first_line,
                                           const CsvOptions& options) {
  std::vector<absl::string_view> first = absl::StrSplit(first_line.second, options.delimiter);
  ColumnLayout layout;
  absl::StatusOr<bool> has_header = IsHeader(first, first_line.first, options.header);
  if (!has_header.ok()) return has_header.status();
  layout.has_header = *has_header;
  const int cols = static_cast<int>(first.size());
  for (int c = 0; c < cols; ++c) {
    layout.names.push_back(layout.has_header ? std::string(Unquote(first[c]))
                                             : absl::StrCat("f", c));
  }
  std::vector<bool> keep(cols, true);
  absl::Status dropped = MarkDroppedColumns(layout.names, layout.has_header, options, &keep);
  if (!dropped.ok()) return dropped;
  absl::StatusOr<int> label_col = FindLabelColumn(layout.names, options.label_column);
  if (!label_col.ok()) return label_col.status();
  layout.label_col = *label_col;
  if (layout.label_col >= 0) keep[layout.label_col] = false;
  for (int c = 0; c < cols; ++c) {
    if (keep[c]) layout.kept.push_back(c);
  }
  return layout;
}

// Why `cell` (unquoted) of column c at line_no is not a number the table
// takes: empty, not a number, or not finite.
absl::Status CellError(absl::string_view cell, int line_no, int c,
                       const std::vector<std::string>& names) {
  float v;
  if (cell.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("line ", line_no, ", ", ColumnLabel(c, names), ": empty cell"));
  }
  if (!absl::SimpleAtof(cell, &v)) {
    return absl::InvalidArgumentError(absl::StrCat("line ", line_no, ", ", ColumnLabel(c, names),
                                                   ": '", cell, "' is not a number"));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("line ", line_no, ", ", ColumnLabel(c, names), ": '", cell,
                   "' is not finite (NaN and Inf are not accepted; out of float range?)"));
}

// Parses one data line into row `row` of table->values, its line number
// and its label. `cells` is scratch space reused across lines.
absl::Status ParseRow(const NumberedLine& numbered, Eigen::Index row, const ColumnLayout& layout,
                      char delimiter, std::vector<absl::string_view>* cells, CsvTable* table) {
  const auto [line_no, line] = numbered;
  const int cols = static_cast<int>(layout.names.size());
  *cells = absl::StrSplit(line, delimiter);
  if (static_cast<int>(cells->size()) != cols) {
    return absl::InvalidArgumentError(
        absl::StrCat("line ", line_no, ": ", cells->size(), " columns, expected ", cols));
  }
  table->lines.push_back(line_no);
  if (layout.label_col >= 0) {
    table->labels.emplace_back(absl::StripAsciiWhitespace(Unquote((*cells)[layout.label_col])));
  }
  for (size_t k = 0; k < layout.kept.size(); ++k) {
    const int c = layout.kept[k];
    absl::string_view cell = Unquote((*cells)[c]);
    float v;
    if (cell.empty() || !absl::SimpleAtof(cell, &v) || !std::isfinite(v)) {
      return CellError(cell, line_no, c, layout.names);
    }
    table->values(row, static_cast<Eigen::Index>(k)) = v;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CsvOptions::Header> ParseCsvHeaderMode(absl::string_view mode) {
  if (mode == "auto") return CsvOptions::Header::kDetect;
  if (mode == "yes") return CsvOptions::Header::kPresent;
  if (mode == "no") return CsvOptions::Header::kAbsent;
  return absl::InvalidArgumentError(
      absl::StrCat("--header must be auto, yes or no, not '", mode, "'"));
}

absl::StatusOr<CsvTable> ParseCsv(absl::string_view text, const CsvOptions& options) {
  // A byte-order mark (as spreadsheet programs write) is not part of the
  // first cell: left in, it made the first row a "header" and lost it.
  absl::ConsumePrefix(&text, "\xEF\xBB\xBF");
  const std::vector<NumberedLine> rows = NonBlankLines(text);
  if (rows.empty()) return absl::InvalidArgumentError("the CSV data is empty");
  absl::StatusOr<ColumnLayout> layout = LayOutColumns(rows[0], options);
  if (!layout.ok()) return layout.status();
  CsvTable table;
  table.has_header = layout->has_header;
  for (int c : layout->kept) table.column_names.push_back(layout->names[c]);
  if (layout->kept.empty()) return absl::InvalidArgumentError("no columns are left after dropping");

  const size_t start = layout->has_header ? 1 : 0;
  if (rows.size() <= start)
    return absl::InvalidArgumentError("the CSV data has a header but no rows");
  const size_t kept = layout->kept.size();
  const int64_t values = static_cast<int64_t>(rows.size() - start) * static_cast<int64_t>(kept);
  if (options.max_values > 0 && values > options.max_values) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the CSV data holds ", rows.size() - start, " rows x ", kept,
                     " columns = ", values, " values; at most ", options.max_values, " are taken"));
  }
  table.values.resize(static_cast<Eigen::Index>(rows.size() - start),
                      static_cast<Eigen::Index>(kept));
  table.lines.reserve(rows.size() - start);
  if (layout->label_col >= 0) table.labels.reserve(rows.size() - start);
  std::vector<absl::string_view> cells;
  for (size_t r = start; r < rows.size(); ++r) {
    absl::Status row = ParseRow(rows[r], static_cast<Eigen::Index>(r - start), *layout,
                                options.delimiter, &cells, &table);
    if (!row.ok()) return row;
  }
  return table;
}

absl::StatusOr<CsvTable> ReadCsvFile(const std::string& path, const CsvOptions& options) {
  // The text and its values are held whole: a file larger than the
  // process's memory fails here (no exception leaves core).
  try {
    absl::StatusOr<std::string> text = ReadFileToString(path);
    if (!text.ok()) return text.status();
    absl::StatusOr<CsvTable> table = ParseCsv(*text, options);
    if (!table.ok()) {
      return absl::Status(table.status().code(),
                          absl::StrCat(path, ": ", table.status().message()));
    }
    return table;
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(
        absl::StrCat(path,
                     ": out of memory reading it (strata train --local --mapped trains from "
                     "data larger than memory)"));
  }
}

absl::StatusOr<int64_t> EstimateCsvReadBytes(const std::string& path, char delimiter) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return ErrnoToStatus("read the size of", path, errno);
  const int64_t size = st.st_size;
  if (size == 0) return int64_t{0};
  // Lines and cells per byte from the first 64 KiB, scaled to the file.
  constexpr int64_t kSampleBytes = 64 << 10;
  std::ifstream in(path, std::ios::binary);
  std::string sample(static_cast<size_t>(std::min(size, kSampleBytes)), '\0');
  in.read(sample.data(), static_cast<std::streamsize>(sample.size()));
  if (!in) return absl::DataLossError(absl::StrCat("cannot read ", path));
  const int64_t newlines = std::count(sample.begin(), sample.end(), '\n');
  const int64_t delimiters = std::count(sample.begin(), sample.end(), delimiter);
  const double scale = static_cast<double>(size) / static_cast<double>(sample.size());
  const double lines = std::max<double>(1, static_cast<double>(newlines + 1) * scale);
  const double cells = static_cast<double>(delimiters) * scale + lines;
  // ParseCsv holds the text, per line its (number, view) pair (24 bytes),
  // its line number in the table (4) and at most a label (32), and a float
  // per cell.
  constexpr double kBytesPerLine = 24 + 4 + 32, kBytesPerCell = sizeof(float);
  // A tenth more, and 1 MiB, for the allocator's own overhead and a sample
  // that is not quite the file.
  const double bytes = static_cast<double>(size) + lines * kBytesPerLine + cells * kBytesPerCell;
  return static_cast<int64_t>(1.1 * bytes) + (int64_t{1} << 20);
}

absl::Status CheckShardColumns(const std::string& first,
                               const std::vector<std::string>& first_names, const std::string& file,
                               const std::vector<std::string>& names) {
  if (names == first_names) return absl::OkStatus();
  // A shard without a header line (its columns f0, f1, ...) among shards
  // with one: the header is what is missing, not the columns.
  const bool headerless = ArePositionalNames(names);
  if (headerless != ArePositionalNames(first_names)) {
    return absl::InvalidArgumentError(
        absl::StrCat(headerless ? file : first,
                     " has no header line (its first line is a row of numbers), while ",
                     headerless ? first : file, " names its columns (",
                     FewNames(headerless ? first_names : names, 5),
                     "): every shard needs the same header line"));
  }
  return absl::InvalidArgumentError(
      absl::StrCat(file, " has the columns ", absl::StrJoin(names, ","), "; ", first, " has ",
                   absl::StrJoin(first_names, ","), ": every shard needs the same columns"));
}

}  // namespace strata
