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
  // Pair each non-blank line with its 1-based line number (split lazily:
  // no vector of every line besides this one, see EstimateCsvReadBytes).
  std::vector<std::pair<int, absl::string_view>> rows;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    rows.emplace_back(line_no, line);
  }
  if (rows.empty()) return absl::InvalidArgumentError("the CSV data is empty");

  std::vector<absl::string_view> first = absl::StrSplit(rows[0].second, options.delimiter);
  bool has_header = options.header == CsvOptions::Header::kPresent;
  if (options.header == CsvOptions::Header::kDetect) {
    // A header names every column; a data row has numbers. A first line with
    // both is neither, and guessing either way loses a row or mislabels the
    // columns: refuse and name the cells.
    int text_cell = -1, number_cell = -1;
    for (int c = 0; c < static_cast<int>(first.size()); ++c) {
      (IsNumber(first[c]) ? number_cell : text_cell) = c;
    }
    has_header = number_cell < 0;
    if (text_cell >= 0 && number_cell >= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "line ", rows[0].first, ", column ", text_cell + 1, ": '", Unquote(first[text_cell]),
          "' is not a number, but column ", number_cell + 1, " ('", Unquote(first[number_cell]),
          "') is: the first line is neither a header (names only) nor a row of numbers. Fix the "
          "cell, or say whether the first line is a header (--header yes|no)"));
    }
  }
  const int cols = static_cast<int>(first.size());
  std::vector<std::string> names;
  for (int c = 0; c < cols; ++c) {
    names.push_back(has_header ? std::string(Unquote(first[c])) : absl::StrCat("f", c));
  }

  std::vector<bool> keep(cols, true);
  for (const std::string& drop : options.drop_columns) {
    bool found = false;
    for (int c = 0; c < cols; ++c) {
      if (names[c] == drop) keep[c] = false, found = true;
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
  int label_col = -1;
  if (!options.label_column.empty()) {
    for (int c = 0; c < cols; ++c) {
      if (names[c] != options.label_column) continue;
      if (label_col >= 0) {
        // Taking one would leave the other among the features.
        return absl::InvalidArgumentError(absl::StrCat("label column '", options.label_column,
                                                       "' names columns ", label_col + 1, " and ",
                                                       c + 1, "; rename one"));
      }
      label_col = c;
    }
    if (label_col < 0) {
      return absl::InvalidArgumentError(absl::StrCat("no label column '", options.label_column,
                                                     "': the columns are ",
                                                     absl::StrJoin(names, ", ")));
    }
    keep[label_col] = false;
  }
  CsvTable table;
  table.has_header = has_header;
  std::vector<int> kept;
  for (int c = 0; c < cols; ++c) {
    if (keep[c]) kept.push_back(c), table.column_names.push_back(names[c]);
  }
  if (kept.empty()) return absl::InvalidArgumentError("no columns are left after dropping");

  const size_t start = has_header ? 1 : 0;
  if (rows.size() <= start)
    return absl::InvalidArgumentError("the CSV data has a header but no rows");
  const int64_t values =
      static_cast<int64_t>(rows.size() - start) * static_cast<int64_t>(kept.size());
  if (options.max_values > 0 && values > options.max_values) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the CSV data holds ", rows.size() - start, " rows x ", kept.size(),
                     " columns = ", values, " values; at most ", options.max_values, " are taken"));
  }
  table.values.resize(static_cast<Eigen::Index>(rows.size() - start),
                      static_cast<Eigen::Index>(kept.size()));
  table.lines.reserve(rows.size() - start);
  if (label_col >= 0) table.labels.reserve(rows.size() - start);
  std::vector<absl::string_view> cells;
  for (size_t r = start; r < rows.size(); ++r) {
    const auto [line_no, line] = rows[r];
    cells = absl::StrSplit(line, options.delimiter);
    if (static_cast<int>(cells.size()) != cols) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line_no, ": ", cells.size(), " columns, expected ", cols));
    }
    table.lines.push_back(line_no);
    if (label_col >= 0) {
      table.labels.emplace_back(absl::StripAsciiWhitespace(Unquote(cells[label_col])));
    }
    for (size_t k = 0; k < kept.size(); ++k) {
      const int c = kept[k];
      absl::string_view cell = Unquote(cells[c]);
      float v;
      if (cell.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("line ", line_no, ", ", ColumnLabel(c, names), ": empty cell"));
      }
      if (!absl::SimpleAtof(cell, &v)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "line ", line_no, ", ", ColumnLabel(c, names), ": '", cell, "' is not a number"));
      }
      if (!std::isfinite(v)) {
        return absl::InvalidArgumentError(
            absl::StrCat("line ", line_no, ", ", ColumnLabel(c, names), ": '", cell,
                         "' is not finite (NaN and Inf are not accepted; out of float range?)"));
      }
      table.values(static_cast<Eigen::Index>(r - start), static_cast<Eigen::Index>(k)) = v;
    }
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
