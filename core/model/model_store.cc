#include "core/model/model_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/base/file_util.h"
#include "core/model/model_io.h"
#include "google/protobuf/util/json_util.h"

namespace strata {
namespace {

bool IsDir(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

void RemoveTree(const std::string& path) {
  absl::StatusOr<std::vector<std::string>> names = ListDir(path);
  if (names.ok()) {
    for (const std::string& n : *names) unlink(absl::StrCat(path, "/", n).c_str());
  }
  // ListDir skips dot files; a temp dir only holds model.strata (and its
  // own temp file when a write failed midway, which WriteFileAtomically
  // already removed).
  rmdir(path.c_str());
}

absl::Status ValidateName(absl::string_view what, absl::string_view name) {
  if (name.empty() || name.size() > 128) {
    return absl::InvalidArgumentError(absl::StrCat(what, " must have 1 to 128 characters"));
  }
  if (name[0] == '.') {
    return absl::InvalidArgumentError(absl::StrCat(what, " '", name, "' must not start with '.'"));
  }
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && c != '_' && c != '-' && c != '.') {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " '", name, "' may hold only letters, digits, '_', '-' and '.'"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<ModelStore>> ModelStore::Create(Options options) {
  if (options.root.empty()) return absl::InvalidArgumentError("the model root is not set");
  while (options.root.size() > 1 && options.root.back() == '/') options.root.pop_back();
  if (absl::Status s = CreateDirectories(options.root); !s.ok()) return s;
  return std::unique_ptr<ModelStore>(new ModelStore(std::move(options)));
}

absl::Status ModelStore::ValidateModelName(absl::string_view name) {
  return ValidateName("model name", name);
}

absl::Status ModelStore::ValidateLabel(absl::string_view label) {
  return ValidateName("label", label);
}

std::string ModelStore::ModelDir(absl::string_view name) const {
  return absl::StrCat(options_.root, "/", name);
}

std::string ModelStore::ModelFilePath(absl::string_view name, int64_t version) const {
  return absl::StrCat(ModelDir(name), "/", version, "/", kModelFileName);
}

absl::StatusOr<std::vector<std::string>> ModelStore::ListModels() const {
  absl::StatusOr<std::vector<std::string>> names = ListDir(options_.root);
  if (!names.ok()) return names.status();
  std::vector<std::string> models;
  for (std::string& n : *names) {
    if (ValidateModelName(n).ok() && IsDir(ModelDir(n))) models.push_back(std::move(n));
  }
  return models;
}

absl::StatusOr<std::vector<int64_t>> ModelStore::ListVersions(absl::string_view name) const {
  absl::StatusOr<std::vector<std::string>> names = ListDir(ModelDir(name));
  if (!names.ok()) return names.status();
  std::vector<int64_t> versions;
  for (const std::string& n : *names) {
    int64_t v;
    if (absl::SimpleAtoi(n, &v) && v >= 1 && absl::StrCat(v) == n &&
        access(ModelFilePath(name, v).c_str(), F_OK) == 0) {
      versions.push_back(v);
    }
  }
  std::sort(versions.begin(), versions.end());
  return versions;
}

absl::StatusOr<int64_t> ModelStore::Publish(absl::string_view name, const Model& model) const {
  if (absl::Status s = ValidateModelName(name); !s.ok()) return s;
  const std::string dir = ModelDir(name);
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
    return ErrnoToStatus("cannot create", dir, errno);
  std::random_device rd;
  const std::string tmp = absl::StrCat(dir, "/.tmp-", getpid(), "-", rd());
  if (mkdir(tmp.c_str(), 0755) != 0) return ErrnoToStatus("cannot create", tmp, errno);
  if (absl::Status s = WriteModelFile(model, absl::StrCat(tmp, "/", kModelFileName)); !s.ok()) {
    RemoveTree(tmp);
    return s;
  }
  SyncDirectory(tmp);
  MutexLock lock(&publish_mu_);
  absl::StatusOr<int64_t> high = HighWaterMark(name);
  if (!high.ok()) {
    RemoveTree(tmp);
    return high.status();
  }
  // Past every number ever assigned (the mark) and every numeric directory,
  // complete or not, including ones dropped in by hand.
  int64_t next = *high + 1;
  absl::StatusOr<std::vector<std::string>> names = ListDir(dir);
  if (names.ok()) {
    for (const std::string& n : *names) {
      int64_t v;
      if (absl::SimpleAtoi(n, &v)) next = std::max(next, v + 1);
    }
  }
  // Another process publishing into the same store may take `next` first:
  // then try the one after.
  for (int attempt = 0; attempt < 100; ++attempt, ++next) {
    const std::string target = absl::StrCat(dir, "/", next);
    if (IsDir(target)) continue;
    // The mark is raised before the version appears, so a crash between the
    // two leaves a gap in the numbers, never a number that can come back.
    if (absl::Status s = WriteFileAtomically(HighWaterMarkPath(name), absl::StrCat(next, "\n"));
        !s.ok()) {
      RemoveTree(tmp);
      return s;
    }
    if (rename(tmp.c_str(), target.c_str()) == 0) {
      SyncDirectory(dir);
      return next;
    }
    if (errno != EEXIST && errno != ENOTEMPTY) {
      const absl::Status s = ErrnoToStatus("cannot publish", target, errno);
      RemoveTree(tmp);
      return s;
    }
  }
  RemoveTree(tmp);
  return absl::AbortedError(absl::StrCat("could not find a free version number for ", name));
}

std::string ModelStore::HighWaterMarkPath(absl::string_view name) const {
  return absl::StrCat(ModelDir(name), "/", kHighWaterMarkFileName);
}

absl::StatusOr<int64_t> ModelStore::HighWaterMark(absl::string_view name) const {
  const std::string path = HighWaterMarkPath(name);
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) {
    if (absl::IsNotFound(text.status())) return 0;
    return text.status();
  }
  int64_t v;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &v) || v < 0) {
    // Guessing a lower mark could hand out a number that was used before.
    return absl::DataLossError(absl::StrCat(
        path, ": expected the highest version ever published, a non-negative integer, not '",
        absl::CEscape(text->substr(0, 40)), "'; write the highest version this model ever had"));
  }
  return v;
}

absl::StatusOr<v1::ModelLabels> ModelStore::ReadLabels(absl::string_view name) const {
  v1::ModelLabels labels;
  const std::string path = absl::StrCat(ModelDir(name), "/labels.json");
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) {
    if (absl::IsNotFound(text.status())) return labels;
    return text.status();
  }
  const auto status = google::protobuf::util::JsonStringToMessage(*text, &labels);
  if (!status.ok()) {
    return absl::DataLossError(absl::StrCat(path, ": ", status.message().as_string()));
  }
  return labels;
}

absl::Status ModelStore::WriteLabels(absl::string_view name, const v1::ModelLabels& labels) const {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  (void)google::protobuf::util::MessageToJsonString(labels, &json, options);
  return WriteFileAtomically(absl::StrCat(ModelDir(name), "/labels.json"), json);
}

}  // namespace strata
