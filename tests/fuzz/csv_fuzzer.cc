// Fuzzes the CSV reader: any text is a table, or an error naming a line.
#include <cstddef>
#include <cstdint>

#include "core/data/csv_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  strata::CsvOptions options;
  (void)strata::ParseCsv(text, options);
  options.drop_columns = {"label"};
  (void)strata::ParseCsv(text, options);
  return 0;
}
