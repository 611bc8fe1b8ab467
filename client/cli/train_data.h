// The training data of `strata train`: the CSV files --data names, read into
// memory or (--mapped) converted into a memory-mapped row file; under mpirun
// each rank's part of them; and the class labels of --label_column.
#ifndef STRATA_CLIENT_CLI_TRAIN_DATA_H_
#define STRATA_CLIENT_CLI_TRAIN_DATA_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/cli/train_flags.h"
#include "client/mpi_collective.h"
#include "core/data/class_labels.h"
#include "core/data/csv_reader.h"
#include "core/data/row_file.h"
#include "core/train/trainer.h"
#include "strata/v1/train_config.pb.h"

namespace strata::cli {

// The file's label column (csv.label_column) indexed against the config's
// declared classes; errors name the file and line. No labels: none.
absl::StatusOr<ClassLabels> FileClassLabels(const CsvTable& table, const v1::TrainConfig& config,
                                            const std::string& path);

// The rows of `files` one after another; every file must have the first's
// columns, by name.
absl::StatusOr<CsvTable> ReadCsvFiles(const std::vector<std::string>& files, const CsvOptions& csv);

// What `strata train --local` trains on. Not thread-safe.
struct LocalTrainingData {
  // The rows in memory, with their labels; with --mapped, the column names only.
  CsvTable table;
  // --mapped: the rows, memory-mapped from the row file.
  std::unique_ptr<RowFile> row_file;
  // The rows' classes (none without --label_column).
  ClassLabels classes;
  // Under mpirun: how the ranks' rows make up the data, and which this
  // rank's are ("every 2-th row of a.csv from row 1").
  Trainer::Options::RowLayout layout = Trainer::Options::RowLayout::kInterleaved;
  std::string rank_data;

  Eigen::Index rows() const { return row_file ? row_file->rows().rows() : table.values.rows(); }
  Eigen::Index cols() const { return row_file ? row_file->rows().cols() : table.values.cols(); }
};

// Reads --data as `flags` say (--mapped: through a row file in --row_cache,
// announced on stdout). `mpi` (null when not under mpirun): this rank's part,
// every rank agreeing on success and on the columns, so that no rank waits
// in a collective the others left.
absl::StatusOr<LocalTrainingData> ReadLocalTrainingData(const TrainFlags& flags,
                                                        const CsvOptions& csv,
                                                        const v1::TrainConfig& config,
                                                        MpiCollective* mpi);

}  // namespace strata::cli

#endif  // STRATA_CLIENT_CLI_TRAIN_DATA_H_
