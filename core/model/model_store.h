// ModelStore: the model versions on disk.
//
//   <root>/<name>/<version>/model.strata   a complete version (version >= 1)
//   <root>/<name>/labels.json              the model's labels (ModelLabels)
//   <root>/<name>/version_high_water_mark  the highest version ever assigned
//   <root>/<name>/.tmp-*                   a publish in progress (ignored)
//
// A version directory appears only complete: Publish writes it under a
// temporary name, fsyncs it and renames it into place. Anyone may also drop
// a version directory in by hand (by the same rename, ideally).
//
// Version numbers are never reused: Publish takes the number after the
// model's high-water mark (and after any numeric directory), so a version
// deleted by hand, or lost, is not handed out again, and a label that
// pointed at it can never come to point at a model nobody reviewed. The mark
// lives in the model's directory: removing the whole directory starts the
// model afresh.
//
// Thread-safe; concurrent publishes of one model, from this process or
// another sharing the store, get distinct versions.
#ifndef STRATA_CORE_MODEL_MODEL_STORE_H_
#define STRATA_CORE_MODEL_MODEL_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/base/mutex.h"
#include "core/model/model.h"
#include "strata/v1/model.pb.h"

namespace strata {

inline constexpr char kHighWaterMarkFileName[] = "version_high_water_mark";

class ModelStore {
 public:
  struct Options {
    // Directory holding one sub-directory per model; created if missing. Required.
    std::string root;
  };
  static absl::StatusOr<std::unique_ptr<ModelStore>> Create(Options options);

  // Letters, digits, '_', '-', '.'; not starting with '.'; 1 to 128 chars.
  static absl::Status ValidateModelName(absl::string_view name);
  // Labels follow the model-name rules.
  static absl::Status ValidateLabel(absl::string_view label);

  const std::string& root() const { return options_.root; }
  // Models with a directory in the store (possibly without versions), sorted.
  absl::StatusOr<std::vector<std::string>> ListModels() const;
  // Complete versions of `name`, ascending; empty if the model is unknown.
  absl::StatusOr<std::vector<int64_t>> ListVersions(absl::string_view name) const;
  std::string ModelFilePath(absl::string_view name, int64_t version) const;

  // Writes `model` as the next version of `name` and returns that version.
  // On failure nothing becomes visible (though the mark may have moved on).
  absl::StatusOr<int64_t> Publish(absl::string_view name, const Model& model) const;

  // The highest version ever assigned to `name` (0 before the first).
  absl::StatusOr<int64_t> HighWaterMark(absl::string_view name) const;

  // The model's labels; empty when it has none.
  absl::StatusOr<v1::ModelLabels> ReadLabels(absl::string_view name) const;
  absl::Status WriteLabels(absl::string_view name, const v1::ModelLabels& labels) const;

 private:
  explicit ModelStore(Options options) : options_(std::move(options)) {}
  std::string ModelDir(absl::string_view name) const;
  std::string HighWaterMarkPath(absl::string_view name) const;

  // Constant after construction.
  const Options options_;
  // Serialises this process's publishes, so that each reads the mark the
  // last one wrote.
  mutable Mutex publish_mu_;
};

}  // namespace strata

#endif  // STRATA_CORE_MODEL_MODEL_STORE_H_
