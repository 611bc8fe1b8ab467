#include "proto/train_job_csv.h"

namespace strata {

CsvOptions CsvOptionsOf(const v1::TrainJobSpec& spec) {
  CsvOptions csv;
  switch (spec.csv_header()) {
    case v1::TrainJobSpec::CSV_HEADER_PRESENT:
      csv.header = CsvOptions::Header::kPresent;
      break;
    case v1::TrainJobSpec::CSV_HEADER_ABSENT:
      csv.header = CsvOptions::Header::kAbsent;
      break;
    default:
      csv.header = CsvOptions::Header::kDetect;
  }
  csv.drop_columns.assign(spec.drop_columns().begin(), spec.drop_columns().end());
  csv.label_column = spec.label_column();
  return csv;
}

void SetCsvOptions(const CsvOptions& csv, v1::TrainJobSpec* spec) {
  switch (csv.header) {
    case CsvOptions::Header::kPresent:
      spec->set_csv_header(v1::TrainJobSpec::CSV_HEADER_PRESENT);
      break;
    case CsvOptions::Header::kAbsent:
      spec->set_csv_header(v1::TrainJobSpec::CSV_HEADER_ABSENT);
      break;
    case CsvOptions::Header::kDetect:
      spec->set_csv_header(v1::TrainJobSpec::CSV_HEADER_DETECT);
      break;
  }
  spec->mutable_drop_columns()->Assign(csv.drop_columns.begin(), csv.drop_columns.end());
  spec->set_label_column(csv.label_column);
}

}  // namespace strata
