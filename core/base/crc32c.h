// CRC-32C (Castagnoli), the checksum of model files. Software table version:
// models are checked once per load, so speed is not a concern here.
#ifndef STRATA_CORE_BASE_CRC32C_H_
#define STRATA_CORE_BASE_CRC32C_H_

#include <cstdint>

#include "absl/strings/string_view.h"

namespace strata {

uint32_t Crc32c(absl::string_view data);

}  // namespace strata

#endif  // STRATA_CORE_BASE_CRC32C_H_
