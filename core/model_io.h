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
#ifndef STRATA_CORE_MODEL_IO_H_
#define STRATA_CORE_MODEL_IO_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/model.h"
#include "strata/v1/model.pb.h"

namespace strata {

// File name of the artifact inside a model version directory.
inline constexpr char kModelFileName[] = "model.strata";
inline constexpr uint32_t kModelFormatVersion = 1;

v1::ModelArtifact ModelToArtifact(const Model& model);
// Checks every shape and value the model depends on.
absl::StatusOr<std::unique_ptr<Model>> ModelFromArtifact(const v1::ModelArtifact& artifact);

// The bytes of a model file, and back.
std::string SerializeModel(const Model& model);
absl::StatusOr<std::unique_ptr<Model>> ParseModel(absl::string_view bytes);

absl::Status WriteModelFile(const Model& model, const std::string& path);
// Errors are prefixed with the path. DataLoss for truncated or corrupt files,
// InvalidArgument for foreign ones, NotFound when missing.
absl::StatusOr<std::unique_ptr<Model>> ReadModelFile(const std::string& path);

}  // namespace strata

#endif  // STRATA_CORE_MODEL_IO_H_
