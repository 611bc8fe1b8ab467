// RowFile: training rows as one binary float32 file that the trainer
// memory-maps, so that a training set need not fit in memory: the
// operating system's page cache holds what it can of the file, and the
// trainer reads it in blocks (Trainer::Train(const RowFile&)).
//
//   std::vector<std::string> shards = *ListDataFiles("data/shards/");
//   RowFile::Source source;
//   source.files = shards;
//   source.csv.drop_columns = {"label"};
//   absl::StatusOr<std::unique_ptr<RowFile>> rows = RowFile::FromCsv(source);
//   // (*rows)->rows(): rows x features, read-only, mapped from disk.
//
// FromCsv converts the CSV shards once, one shard in memory at a time, into
// "<dir>/.strata-rows-<hash>.f32" next to the first shard (or in
// source.cache_dir). The file records its source (each shard's path, size
// and modification time, and the CSV options): a later call for the same
// unchanged shards maps it again without reading a CSV; a changed shard
// gives a new file. The file is written to a temporary name and renamed
// into place, so a reader never maps a half-written one.
//
// Layout: a header (magic "STRATA-ROWS-F32\n", format version, rows, cols,
// data offset, the source description and the column names), then rows x
// cols float32 values, row-major, at a 4096-byte aligned offset, in the
// machine's byte order (x86-64 and arm64: little-endian).
//
// Immutable once opened; thread-safe.
#ifndef STRATA_CORE_DATA_ROW_FILE_H_
#define STRATA_CORE_DATA_ROW_FILE_H_

#include <Eigen/Core>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/data/csv_reader.h"
#include "core/data/data_path.h"  // ListDataFiles, as the example above
#include "core/nn/matrix.h"

namespace strata {

class RowFile {
 public:
  struct Source {
    // CSV shards, read in this order; every one must have the first's
    // columns, by name. Required (at least one).
    std::vector<std::string> files;
    // How to read them (header, delimiter, drop_columns). max_values
    // bounds each shard, which is read whole; label_column is refused.
    CsvOptions csv;
    // Where the row file goes. Default: the first shard's directory.
    std::string cache_dir;
  };

  // Maps the row file of `source`, converting the shards first unless an
  // up-to-date one exists. Errors name the shard (and its line) or the row
  // file (for one that cannot be created, with the cache directory's hint).
  static absl::StatusOr<std::unique_ptr<RowFile>> FromCsv(const Source& source);
  // Maps an existing row file. InvalidArgument for one that is not a
  // complete row file of this format.
  static absl::StatusOr<std::unique_ptr<RowFile>> Open(const std::string& path);
  // Whether FromCsv's error is that the row file could not be created
  // (an unwritable directory), rather than about the shards.
  static bool IsUnwritable(const absl::Status& status);
  // Where FromCsv keeps the row file of `source`.
  static std::string PathFor(const Source& source);

  ~RowFile();
  RowFile(const RowFile&) = delete;
  RowFile& operator=(const RowFile&) = delete;

  // rows x cols, read-only. Valid while this RowFile lives.
  Eigen::Map<const Matrix> rows() const { return {data_, rows_, cols_}; }
  const std::vector<std::string>& column_names() const { return column_names_; }
  const std::string& path() const { return path_; }
  // Whether FromCsv converted the shards (false: it mapped an existing file).
  bool converted() const { return converted_; }

 private:
  RowFile() = default;
  static absl::StatusOr<std::unique_ptr<RowFile>> FromCsvOrThrow(const Source& source);

  std::string path_;
  std::string source_;  // what it was made from (see FromCsv)
  std::vector<std::string> column_names_;
  void* mapping_ = nullptr;
  size_t mapping_bytes_ = 0;
  const float* data_ = nullptr;
  Eigen::Index rows_ = 0;
  Eigen::Index cols_ = 0;
  bool converted_ = false;
};

}  // namespace strata

#endif  // STRATA_CORE_DATA_ROW_FILE_H_
