// Fuzzes the model-artifact loader: any bytes are a model, or an error.
#include <cstddef>
#include <cstdint>

#include "core/model_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<std::unique_ptr<strata::Model>> model =
      strata::ParseModel(absl::string_view(reinterpret_cast<const char*>(data), size));
  if (model.ok()) {
    // A model that loads must also run: one row of zeros through it.
    strata::Matrix row = strata::Matrix::Zero(1, (*model)->input_dim());
    (void)(*model)->Encode(row, (*model)->depth());
    (void)(*model)->Reconstruct(row);
  }
  return 0;
}
