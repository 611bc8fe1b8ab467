// Storing and loading models.
//
// A model file is the magic "\x89STRATA\n" followed by a serialized
// v1::ModelFile whose payload (a v1::ModelArtifact) is covered by a CRC-32C.
// Writes are atomic (file_util.h); loads check the magic, the checksum and
// every shape, and name what is wrong with a truncated, corrupt or foreign
// file. A round trip reproduces outputs bit for bit.
//
//   absl::Status s = WriteModelFile(model, dir + "/" + kModelFileName);
//   absl::StatusOr<std::unique_ptr<Model>> m = ReadModelFile(path);
#ifndef STRATA_CORE_MODEL_MODEL_IO_H_
#define STRATA_CORE_MODEL_MODEL_IO_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/model/model.h"
#include "strata/v1/model.pb.h"

namespace strata {

// File name of the artifact inside a model version directory.
inline constexpr char kModelFileName[] = "model.strata";
inline constexpr uint32_t kModelFormatVersion = 1;

v1::ModelArtifact ModelToArtifact(const Model& model);
// Checks every shape and value the model depends on.
absl::StatusOr<std::unique_ptr<Model>> ModelFromArtifact(const v1::ModelArtifact& artifact);

// The largest model file: the magic, then a message protobuf parses only up
// to 2 GiB - 1.
inline constexpr int64_t kMaxModelFileBytes = 8 + int64_t{INT32_MAX};

// The bytes of a model file, and back. ResourceExhausted when the file
// would exceed `max_bytes` (lowered only by tests), Internal when protobuf
// fails to serialise.
absl::StatusOr<std::string> SerializeModel(const Model& model,
                                           int64_t max_bytes = kMaxModelFileBytes);
absl::StatusOr<std::unique_ptr<Model>> ParseModel(absl::string_view bytes);

// Fails, writing nothing, when the model cannot be serialised.
absl::Status WriteModelFile(const Model& model, const std::string& path);
// Errors are prefixed with the path. DataLoss for truncated or corrupt files,
// InvalidArgument for foreign ones and ones larger than kMaxModelFileBytes
// (refused before reading), NotFound when missing.
absl::StatusOr<std::unique_ptr<Model>> ReadModelFile(const std::string& path);

}  // namespace strata

#endif  // STRATA_CORE_MODEL_MODEL_IO_H_
