// The one conversion between a TrainJobSpec's CSV fields (csv_header,
// drop_columns, label_column) and core's CsvOptions: the CLI writes them
// from its --header, --drop_columns and --label_column flags, the server
// reads csv_path data with them.
//
//   SetCsvOptions(csv, &spec);                      // strata train --server_csv
//   CsvOptions csv = CsvOptionsOf(spec);           // the job reading its files
//
// Functions only; thread-compatible.
#ifndef STRATA_PROTO_TRAIN_JOB_CSV_H_
#define STRATA_PROTO_TRAIN_JOB_CSV_H_

#include "core/data/csv_reader.h"
#include "strata/v1/service.pb.h"

namespace strata {

// How a job reads its csv_path files. An unknown csv_header (refused by
// TrainJobManager::Submit) reads as DETECT.
CsvOptions CsvOptionsOf(const v1::TrainJobSpec& spec);

// Replaces `spec`'s csv_header, drop_columns and label_column with `csv`'s.
void SetCsvOptions(const CsvOptions& csv, v1::TrainJobSpec* spec);

}  // namespace strata

#endif  // STRATA_PROTO_TRAIN_JOB_CSV_H_
