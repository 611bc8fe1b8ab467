#include "client/cli/train_data.h"

#include <algorithm>
#include <iostream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/base/file_util.h"

namespace strata::cli {
namespace {

// This rank's block of whole shards (rank 0's first); InvalidArgument, with
// `otherwise` as the alternative, for fewer shards than ranks.
absl::StatusOr<std::vector<std::string>> RankShards(const std::vector<std::string>& files,
                                                    MpiCollective& mpi, absl::string_view otherwise,
                                                    std::string* what) {
  const size_t n = static_cast<size_t>(mpi.size()), rank = static_cast<size_t>(mpi.rank());
  if (files.size() < n) {
    return absl::InvalidArgumentError(absl::StrCat(n, " ranks for ", files.size(),
                                                   " shards: give at least one shard per rank, or ",
                                                   otherwise));
  }
  const size_t begin = files.size() * rank / n, end = files.size() * (rank + 1) / n;
  std::vector<std::string> mine(files.begin() + begin, files.begin() + end);
  *what = absl::StrCat(mine.size(), " shards, ", mine.front(), " to ", mine.back());
  return mine;
}

// OK when every rank's data has rank 0's columns, by name.
absl::Status AgreeOnColumns(const std::vector<std::string>& names, MpiCollective& mpi) {
  const std::vector<std::string> all = mpi.AllGather(absl::StrJoin(names, ","));
  for (size_t r = 0; r < all.size(); ++r) {
    if (all[r] != all[0]) {
      return absl::InvalidArgumentError(
          absl::StrCat("rank ", r, "'s data has the columns ", all[r], "; rank 0's has ", all[0]));
    }
  }
  return absl::OkStatus();
}

// This rank's part of the training data: with one file, every n-th row
// (from row `rank`); with several, a block of whole files (rank 0's
// first). The ranks' column names must agree.
absl::StatusOr<CsvTable> ReadRankData(const std::vector<std::string>& files, const CsvOptions& csv,
                                      MpiCollective& mpi, Trainer::Options::RowLayout* layout,
                                      std::string* what) {
  const int rank = mpi.rank(), n = mpi.size();
  absl::StatusOr<CsvTable> table;
  if (files.size() == 1) {
    *layout = Trainer::Options::RowLayout::kInterleaved;
    table = ReadCsvFile(files[0], csv);
    if (table.ok()) {
      const Eigen::Index rows = (table->values.rows() - rank + n - 1) / n;
      Matrix mine(std::max<Eigen::Index>(rows, 0), table->values.cols());
      for (Eigen::Index i = 0; i < mine.rows(); ++i) mine.row(i) = table->values.row(i * n + rank);
      table->values = std::move(mine);
      table->lines.clear();
      *what = absl::StrFormat("every %d-th row of %s from row %d", n, files[0], rank);
    }
  } else {
    absl::StatusOr<std::vector<std::string>> mine = RankShards(files, mpi, "one file", what);
    *layout = Trainer::Options::RowLayout::kBlocks;
    table = mine.ok() ? ReadCsvFiles(*mine, csv) : absl::StatusOr<CsvTable>(mine.status());
  }
  if (absl::Status s = AgreeOnStatus(&mpi, table.status()); !s.ok()) return s;
  if (absl::Status s = AgreeOnColumns(table->column_names, mpi); !s.ok()) return s;
  return table;
}

// --mapped: the row file of this rank's files (every file when not under
// mpirun), converted from the CSV once; `table` gets its column names.
// `listed`: whether --data's files could be listed, on every rank.
absl::StatusOr<std::unique_ptr<RowFile>> OpenRowFile(
    const absl::StatusOr<std::vector<std::string>>& files, const absl::Status& listed,
    const TrainFlags& flags, const CsvOptions& csv, MpiCollective* mpi, LocalTrainingData* data) {
  // Under mpirun, each rank its own row file of its block of shards.
  absl::StatusOr<std::vector<std::string>> mine = files;
  if (listed.ok() && mpi != nullptr) {
    mine = RankShards(*files, *mpi, "train one file in one process", &data->rank_data);
    data->layout = Trainer::Options::RowLayout::kBlocks;
  }
  absl::StatusOr<std::unique_ptr<RowFile>> opened = absl::UnknownError("not opened");
  if (!listed.ok() || !mine.ok()) {
    opened = !listed.ok() ? listed : mine.status();
  } else {
    RowFile::Source source;
    source.files = *mine;
    source.csv = csv;
    source.cache_dir = flags.row_cache;
    opened = RowFile::FromCsv(source);
  }
  if (mpi != nullptr) {
    if (absl::Status s = AgreeOnStatus(mpi, opened.status()); !s.ok()) return s;
    if (absl::Status s = AgreeOnColumns((*opened)->column_names(), *mpi); !s.ok()) return s;
  }
  if (!opened.ok()) return opened.status();
  data->table.column_names = (*opened)->column_names();
  std::cout << absl::StrFormat("%s %s (%d shards)\n",
                               (*opened)->converted() ? "converted --data into" : "mapping",
                               (*opened)->path(), mine->size())
            << std::flush;
  return opened;
}

}  // namespace

// The file's label column (csv.label_column) indexed against the config's
// declared classes; errors name the file and line. No labels: none.
absl::StatusOr<ClassLabels> FileClassLabels(const CsvTable& table, const v1::TrainConfig& config,
                                            const std::string& path) {
  if (table.labels.empty()) return ClassLabels();
  absl::StatusOr<ClassLabels> classes =
      IndexClassLabels(table.labels, DeclaredClassNames(config), table.lines);
  if (!classes.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ", label column: ", classes.status().message()));
  }
  return classes;
}

// The rows of `files` one after another; every file must have the first's
// columns, by name.
absl::StatusOr<CsvTable> ReadCsvFiles(const std::vector<std::string>& files,
                                      const CsvOptions& csv) {
  absl::StatusOr<CsvTable> all = ReadCsvFile(files[0], csv);
  if (!all.ok() || files.size() == 1) return all;
  if (!csv.label_column.empty()) {
    return absl::InvalidArgumentError(
        "--label_column takes one --data file (its line numbers name the rows)");
  }
  std::vector<Matrix> parts = {std::move(all->values)};
  Eigen::Index rows = parts[0].rows();
  for (size_t f = 1; f < files.size(); ++f) {
    absl::StatusOr<CsvTable> next = ReadCsvFile(files[f], csv);
    if (!next.ok()) return next.status();
    if (absl::Status s =
            CheckShardColumns(files[0], all->column_names, files[f], next->column_names);
        !s.ok()) {
      return s;
    }
    rows += next->values.rows();
    parts.push_back(std::move(next->values));
  }
  all->values.resize(rows, parts[0].cols());
  Eigen::Index at = 0;
  for (const Matrix& part : parts) {
    all->values.middleRows(at, part.rows()) = part;
    at += part.rows();
  }
  all->lines.clear();
  return all;
}

absl::StatusOr<LocalTrainingData> ReadLocalTrainingData(const TrainFlags& flags,
                                                        const CsvOptions& csv,
                                                        const v1::TrainConfig& config,
                                                        MpiCollective* mpi) {
  if (mpi != nullptr && !csv.label_column.empty()) {
    return absl::InvalidArgumentError(
        "--label_column: class labels (a classifier head) are not trained data-parallel; "
        "train it in one process");
  }
  // The row file's directory is made here, as strata-server makes its
  // --row_cache_dir: RowFile creates files in it, not the directory.
  if (!flags.row_cache.empty()) {
    if (absl::Status s = CreateDirectories(flags.row_cache); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("--row_cache: ", s.message()));
    }
  }
  absl::StatusOr<std::vector<std::string>> files = ListDataFiles(flags.data_path);
  if (!files.ok()) {
    files = absl::Status(files.status().code(), absl::StrCat("--data ", files.status().message()));
  }
  // Every rank learns whether any rank's --data matched no file.
  const absl::Status listed = mpi == nullptr ? files.status() : AgreeOnStatus(mpi, files.status());
  LocalTrainingData data;
  if (flags.mapped) {
    absl::StatusOr<std::unique_ptr<RowFile>> row_file =
        OpenRowFile(files, listed, flags, csv, mpi, &data);
    if (!row_file.ok()) return row_file.status();
    data.row_file = *std::move(row_file);
  } else {
    absl::StatusOr<CsvTable> table =
        !listed.ok()     ? absl::StatusOr<CsvTable>(listed)
        : mpi == nullptr ? ReadCsvFiles(*files, csv)
                         : ReadRankData(*files, csv, *mpi, &data.layout, &data.rank_data);
    if (!table.ok()) return table.status();
    data.table = *std::move(table);
  }
  absl::StatusOr<ClassLabels> classes = FileClassLabels(data.table, config, flags.data_path);
  if (!classes.ok()) return classes.status();
  data.classes = *std::move(classes);
  return data;
}

}  // namespace strata::cli
